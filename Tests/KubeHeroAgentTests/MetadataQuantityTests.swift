import KubeHeroAgent
import KubeHeroCore
import Testing

/// Quantities convert exactly as Kubernetes' own `resource.Quantity` does, rounding up.
@Suite("Metadata: Kubernetes quantities")
struct MetadataQuantityTests {
    @Test("CPU quantities convert to millicores", arguments: [
        ("500m", 500), ("2", 2000), ("0.5", 500), ("1.5", 1500), ("100m", 100), ("1", 1000),
        ("0.1", 100), ("250m", 250), ("+1", 1000), ("1.", 1000), (".5", 500), ("0", 0), ("-0", 0),
        ("1500000n", 2), ("1u", 1), ("2500u", 3), ("0.0001", 1), ("1e3", 1_000_000), ("1E-3", 1),
        ("4096", 4_096_000), ("1k", 1_000_000), ("000250m", 250), ("1.50000000000000000000000000000000000000000", 1500),
    ] as [(String, UInt32)])
    func millicores(text: String, expected: UInt32) throws {
        #expect(try KubernetesQuantity(text).millicores() == expected)
    }

    @Test("memory quantities convert to bytes", arguments: [
        ("128Mi", 134_217_728), ("1Gi", 1_073_741_824), ("1G", 1_000_000_000), ("512M", 512_000_000),
        ("1e9", 1_000_000_000), ("1.5Gi", 1_610_612_736), ("100k", 100_000), ("65536", 65_536),
        ("1Ki", 1024), ("2Ti", 2_199_023_255_552), ("1Pi", 1 << 50), ("1Ei", 1 << 60), ("7E", 7_000_000_000_000_000_000),
        ("1T", 1_000_000_000_000), ("3P", 3_000_000_000_000_000), ("0.5Ki", 512), ("0.1Ki", 103),
        ("1536Mi", 1_610_612_736), ("100m", 1), ("1e+3", 1000), ("12E2", 1200), ("0.001k", 1),
    ] as [(String, UInt64)])
    func bytes(text: String, expected: UInt64) throws {
        #expect(try KubernetesQuantity(text).bytes() == expected)
    }

    @Test("GPU quantities are whole counts")
    func counts() throws {
        #expect(try KubernetesQuantity("1").count() == 1)
        #expect(try KubernetesQuantity("8").count() == 8)
        #expect(try KubernetesQuantity("0").count() == 0)
    }

    @Test("bad quantities are refused, saying why", arguments: [
        ("", "is empty"), ("abc", "does not start with a number"), ("Mi", "does not start with a number"),
        ("12XB", "unknown suffix \"XB\""), ("1mi", "unknown suffix \"mi\""), ("1 Gi", "unknown suffix \" Gi\""),
        ("1KI", "unknown suffix \"KI\""), ("1.2.3", "unknown suffix \".3\""), ("-1", "is negative"), ("-500m", "is negative"),
        ("1e", "unknown suffix \"e\""), ("1ex", "not a valid exponent"), ("1e1.5", "not a valid exponent"),
        ("1e99999", "not a valid exponent"), ("--1", "does not start with a number"), (".", "does not start with a number"),
    ] as [(String, String)])
    func invalid(text: String, fragment: String) {
        let error = #expect(throws: ValidationError.self) { try KubernetesQuantity(text).bytes() }
        #expect(error?.reason.contains(fragment) == true, "\(error?.reason ?? "no error")")
    }

    @Test("values beyond the field's range are refused as too large")
    func tooLarge() throws {
        let cpu = #expect(throws: ValidationError.self) { try KubernetesQuantity("5000000").millicores() }
        #expect(cpu?.reason == "\"5000000\" is too large (more than 4294967295 millicores)")
        #expect(throws: ValidationError.self) { try KubernetesQuantity("16Ei").bytes() }
        #expect(throws: ValidationError.self) { try KubernetesQuantity("1e30").bytes() }
        #expect(throws: ValidationError.self) { try KubernetesQuantity("99999999999999999999999999999999999999999").bytes() }
        #expect(try KubernetesQuantity("15Ei").bytes() == 15 << 60)
    }

    @Test("a value of zero stays zero whatever its exponent")
    func zeroWithExponent() throws {
        #expect(try KubernetesQuantity("0e999").bytes() == 0)
        #expect(try KubernetesQuantity("0Ei").bytes() == 0)
    }

    @Test("a quantity written as a bare JSON number decodes")
    func decodesNumbers() throws {
        let data = MetadataFixtures.onePod(resources: #"{"requests":{"cpu":2,"memory":1.5e9}}"#)
        let snapshot = PodMetadataSnapshot(try KubeletPodList.decode(data, from: "test"))
        let identity = try #require(snapshot.identity(for: CgroupContainer(cgroupID: 1, path: "/x", containerID: String(repeating: "ab", count: 32))))
        #expect(identity.cpuRequestMillicores == 2000)
        #expect(identity.memoryRequestBytes == 1_500_000_000)
        #expect(snapshot.problems.isEmpty)
    }
}

import KubeHeroCore
import Testing

@Suite("Kubernetes names")
struct KubernetesNamesTests {
    @Test("DNS labels accept Kubernetes-valid cluster names", arguments: ["prod-us-east-1", "a", "x9", String(repeating: "a", count: 63)])
    func validLabels(name: String) throws {
        try KubernetesNames.validateDNSLabel(name, field: "name")
    }

    @Test("DNS labels refuse invalid names, naming the field", arguments: ["", "Prod", "-a", "a-", "a_b", "a.b", String(repeating: "a", count: 64)])
    func invalidLabels(name: String) {
        #expect(throws: ValidationError.self) { try KubernetesNames.validateDNSLabel(name, field: "name") }
        do {
            try KubernetesNames.validateDNSLabel(name, field: "name")
        } catch {
            #expect(error.field == "name")
        }
    }

    @Test("label keys may carry a DNS prefix", arguments: ["app", "app.kubernetes.io/name", "team_1", "a.b-c"])
    func validKeys(key: String) throws {
        try KubernetesNames.validateLabelKey(key, field: "labels")
    }

    @Test("bad label keys are refused", arguments: ["", "/x", "Bad_Prefix/x", "a/", "x y", "-a", String(repeating: "k", count: 64)])
    func invalidKeys(key: String) {
        #expect(throws: ValidationError.self) { try KubernetesNames.validateLabelKey(key, field: "labels") }
    }

    @Test("label values may be empty but not malformed")
    func values() throws {
        try KubernetesNames.validateLabelValue("", field: "v")
        try KubernetesNames.validateLabelValue("Prod_1.x", field: "v")
        #expect(throws: ValidationError.self) { try KubernetesNames.validateLabelValue("not ok", field: "v") }
        #expect(throws: ValidationError.self) { try KubernetesNames.validateLabelValue("x.", field: "v") }
    }

    @Test("key=value parsing names the flag on error")
    func parseLabel() throws {
        let (k, v) = try KubernetesNames.parseLabel("env=prod", field: "--label")
        #expect(k == "env" && v == "prod")
        #expect(throws: ValidationError(field: "--label", "expected key=value, got \"env\"")) {
            try KubernetesNames.parseLabel("env", field: "--label")
        }
    }
}

@Suite("Money")
struct MoneyTests {
    @Test("decimal dollars parse exactly", arguments: [
        ("0.096", Int64(96_000_000)), ("$12", 12_000_000_000), ("0.000000001", 1), ("-1.5", -1_500_000_000), (".5", 500_000_000),
    ])
    func parse(text: String, nanos: Int64) {
        #expect(Money(decimalUSD: text)?.nanoUSD == nanos)
    }

    @Test("malformed amounts are refused", arguments: ["", "1.2.3", "abc", "0.0000000001", "1e3", "99999999999999"])
    func refuse(text: String) {
        #expect(Money(decimalUSD: text) == nil)
    }

    @Test("formatting is exact and trims zeros to two decimals")
    func format() {
        #expect(Money(nanoUSD: 1_234_500_000).formatted() == "$1.2345")
        #expect(Money(nanoUSD: 10_000_000).formatted() == "$0.01")
        #expect(Money(nanoUSD: -5).formatted() == "-$0.000000005")
        #expect(Money(nanoUSD: 260_393).decimalString == "0.000260393")
        #expect(Money(nanoUSD: 3_000_000_000).decimalString == "3")
    }

    @Test("scaled division rounds half away from zero in 128 bits")
    func scaled() {
        #expect(Int128.scaled(5, by: 1, over: 2) == 3)
        #expect(Int128.scaled(-5, by: 1, over: 2) == -3)
        #expect(Int128.scaled(4, by: 1, over: 3) == 1)
        // Far beyond Int64: 64 cores for an hour at $1000/core-hour in nano-USD.
        let v = Int128(64) * 3_600_000_000_000
        #expect(Int128.scaled(v, by: 1_000_000_000_000, over: 3_600_000_000_000) == 64_000_000_000_000)
    }
}

@Suite("Durations and timestamps")
struct TimeTests {
    @Test("durations parse with their units", arguments: [("90s", Int64(90_000)), ("15m", 900_000), ("24h", 86_400_000), ("7d", 604_800_000), ("2w", 1_209_600_000)])
    func durations(text: String, millis: Int64) throws {
        #expect(try DurationText.parseMillis(text, field: "window") == millis)
        // Formatting picks the largest exact unit (24h -> 1d) and parses back to the same length.
        #expect(try DurationText.parseMillis(DurationText.format(millis: millis), field: "window") == millis)
    }

    @Test("bad durations name the field", arguments: ["", "h", "0h", "-1h", "7x", "1.5h", "99999w"])
    func badDurations(text: String) {
        do {
            _ = try DurationText.parseMillis(text, field: "window")
            Issue.record("accepted \(text)")
        } catch {
            #expect(error.field == "window")
        }
    }

    @Test("RFC 3339 round-trips and honours offsets")
    func rfc3339() {
        #expect(Timestamp.rfc3339(millis: 0) == "1970-01-01T00:00:00Z")
        #expect(Timestamp.rfc3339(millis: 1_795_000_000_250) == "2026-11-18T11:06:40.250Z")
        #expect(Timestamp.parseRFC3339("2026-11-18T11:06:40.250Z") == 1_795_000_000_250)
        #expect(Timestamp.parseRFC3339("2026-11-18T12:06:40+01:00") == 1_795_000_000_000)
        #expect(Timestamp.parseRFC3339("2024-02-29T00:00:00Z") != nil)
        #expect(Timestamp.parseRFC3339("2023-02-29T00:00:00Z") == nil)
        #expect(Timestamp.parseRFC3339("2026-13-01T00:00:00Z") == nil)
        #expect(Timestamp.parseRFC3339("yesterday") == nil)
    }

    @Test("host:port parsing covers IPv6 and bad ports")
    func hostPort() throws {
        #expect(try HostPort(parsing: "127.0.0.1:9443", field: "--hub") == HostPort(host: "127.0.0.1", port: 9443))
        #expect(try HostPort(parsing: "[::1]:80", field: "--hub") == HostPort(host: "::1", port: 80))
        #expect(throws: ValidationError.self) { try HostPort(parsing: "hub", field: "--hub") }
        #expect(throws: ValidationError.self) { try HostPort(parsing: "hub:99999", field: "--hub") }
    }
}

@Suite("Batch validation")
struct BatchValidationTests {
    static func batch() -> UsageBatch {
        UsageBatch(
            agentInstanceID: "a", sequence: 1, node: NodeInfo(name: "n"), windowStartUnixMillis: 1_795_000_000_000,
            tickMillis: 1000, tickCount: 3,
            containers: [ContainerSamples(cgroupID: 1, identity: ContainerIdentity(namespace: "ns", pod: "p", container: "c"),
                                          firstTick: 1, cpuNanos: [1, 2], memoryWorkingSetBytes: [10, 20])]
        )
    }

    @Test("a well-formed batch passes, and counts its samples")
    func valid() throws {
        try Self.batch().validate()
        #expect(Self.batch().sampleCount == 2)
        #expect(Self.batch().windowEndUnixMillis == 1_795_000_003_000)
    }

    @Test("a container may not run past the batch")
    func pastEnd() {
        var b = Self.batch()
        b.containers[0].firstTick = 2
        #expect(throws: ValidationError(field: "containers[0].cpuNanos", "2 ticks from tick 2 run past the batch's 3 ticks")) { try b.validate() }
    }

    @Test("too many containers are refused before anything else is read")
    func tooMany() {
        var b = Self.batch()
        var limits = BatchLimits()
        limits.maxContainers = 0
        #expect(throws: ValidationError.self) { try b.validate(limits: limits) }
        b.containers = []
        #expect(throws: Never.self) { try b.validate(limits: limits) }
    }
}

import Foundation
import KubeHeroCore
import KubeHeroPricing
import Testing

@Suite("Pricing engine")
struct PricingEngineTests {
    static func book() throws -> CatalogPriceBook { try PricingTests.book() }

    static func xlarge(_ capacity: CapacityType = .onDemand, override: String = "") -> NodeInfo {
        NodeInfo(name: "n1", instanceType: "m5.xlarge", region: "us-east-1", capacityType: capacity, hourlyPriceOverride: override)
    }

    /// Golden case, by hand. m5.xlarge in us-east-1 on-demand: $0.192/h, 4 vCPU, 16 GiB.
    ///   weight = 4000 * 31,611,000 + 16000 * 4,237,000 = 194,236,000,000 (milli-units x nano-USD)
    ///   CPU = 0.192e9 * 1000 * 31,611,000 / 194,236,000,000 = 31,247,100.8 -> 31,247,101 nano-USD/core-hour
    ///   RAM = 0.192e9 * 1000 *  4,237,000 / 194,236,000,000 =  4,188,224.6 ->  4,188,225 nano-USD/GiB-hour
    /// Container over one minute: 250m requested, 900m used -> max is usage, 0.9 core x 60 s = 54e9 core-ns:
    ///   54e9 * 31,247,101 / 3.6e12 = 468,706.515 -> 468,707
    /// Memory 1 GiB used, 2 GiB requested -> request, 120 GiB-s: 120 * 4,188,225 / 3600 = 139,607.5 -> 139,608
    /// Node for the minute: 0.192 * 60 / 3600 = 3,200,000; its CPU part 31,247,101 * 4 * 60 / 3600 =
    ///   2,083,140.07 -> 2,083,140, RAM the rest: 1,116,860.
    /// Idle: CPU 2,083,140 - 468,707 = 1,614,433; RAM 1,116,860 - 139,608 = 977,252; total 2,591,685.
    @Test("golden: on-demand m5.xlarge in us-east-1, 250m request / 900m usage, to the nano-dollar")
    func goldenXlarge() throws {
        let rates = try Self.book().rates(cloud: .aws, region: "us-east-1", node: Self.xlarge())
        #expect(rates.nodeHourly?.nanoUSD == 192_000_000)
        #expect(rates.cpuCoreHour.nanoUSD == 31_247_101)
        #expect(rates.ramGiBHour.nanoUSD == 4_188_225)
        #expect(rates.source == .catalog(cloud: "aws", region: "us-east-1", instanceType: "m5.xlarge", capacityType: .onDemand))
        let usage = Usage(
            cpuCoreNanos: 54_000_000_000, cpuRequestCoreNanos: 15_000_000_000, memoryByteSeconds: 60 << 30,
            memoryRequestByteSeconds: 120 << 30, sampledMillis: 60_000
        )
        let cost = Allocation.cost(of: usage, at: rates)
        #expect(cost.cpu.nanoUSD == 468_707)
        #expect(cost.ram.nanoUSD == 139_608)
        let node = try #require(Allocation.nodeCost(observedMillis: 60_000, at: rates))
        #expect(node.cpu.nanoUSD == 2_083_140 && node.ram.nanoUSD == 1_116_860 && node.compute.nanoUSD == 3_200_000)
        let idle = Allocation.idle(observedMillis: 60_000, allocated: [cost], at: rates)
        #expect(idle.cpu.nanoUSD == 1_614_433)
        #expect(idle.ram.nanoUSD == 977_252)
        #expect(idle.compute.nanoUSD == 2_591_685)
    }

    /// Spot m5.xlarge at the catalog's $0.074/h: CPU 0.074e9 * 1000 * 31,611,000 / 194,236,000,000
    /// = 12,043,154.0 and RAM 1,614,212.0 (nano-USD).
    @Test("spot nodes are priced at the spot price, on-demand nodes at the on-demand price")
    func spotVersusOnDemand() throws {
        let book = try Self.book()
        let spot = book.rates(cloud: .aws, region: "us-east-1", node: Self.xlarge(.spot))
        let onDemand = book.rates(cloud: .aws, region: "us-east-1", node: Self.xlarge(.onDemand))
        #expect(spot.nodeHourly?.nanoUSD == 74_000_000)
        #expect(spot.cpuCoreHour.nanoUSD == 12_043_154 && spot.ramGiBHour.nanoUSD == 1_614_212)
        #expect(spot.source == .catalog(cloud: "aws", region: "us-east-1", instanceType: "m5.xlarge", capacityType: .spot))
        #expect(onDemand.nodeHourly?.nanoUSD == 192_000_000)
        #expect(spot.source.tag == "catalog" && onDemand.source.tag == "catalog")
    }

    @Test("an unknown instance type is priced from the default rate card times capacity, and tagged so")
    func unknownTypeFromDefaults() throws {
        // 3 cores and 12 GiB: 3 * 0.031611 + 12 * 0.004237 = 0.094833 + 0.050844 = $0.145677/h.
        let node = NodeInfo(name: "n", instanceType: "z9.huge", region: "us-east-1", capacityType: .onDemand,
                            cpuCapacityMillicores: 3000, memoryCapacityBytes: 12 << 30)
        let rates = try Self.book().rates(cloud: .aws, region: "us-east-1", node: node)
        #expect(rates.nodeHourly?.nanoUSD == 145_677_000)
        #expect(rates.cpuCoreHour.nanoUSD == 31_611_000 && rates.ramGiBHour.nanoUSD == 4_237_000)
        #expect(rates.source.tag == "default-rate-card")
        #expect(rates.source.description.contains("z9.huge"))
    }

    @Test("the node annotation overrides the catalog; an absurd one is refused as a typo and the catalog applies")
    func annotationOverride() throws {
        let book = try Self.book()
        let overridden = book.rates(cloud: .aws, region: "us-east-1", node: Self.xlarge(override: "0.1"))
        #expect(overridden.nodeHourly?.nanoUSD == 100_000_000)
        #expect(overridden.source == .nodeAnnotation(hourlyUSD: "0.1"))
        let typo = book.rates(cloud: .aws, region: "us-east-1", node: Self.xlarge(override: "1920"))
        #expect(typo.nodeHourly?.nanoUSD == 192_000_000)
        #expect(typo.source.tag == "catalog")
        #expect(typo.warnings.count == 1 && typo.warnings[0].contains("typo") && typo.warnings[0].contains(NodeInfo.hourlyPriceAnnotation))
        #expect(throws: ValidationError.self) { try CatalogPriceBook.parseNodePrice("1000.000000001", field: "x") }
    }

    /// GCP g2-standard-4 (4 vCPU, 16 GiB, 1 L4) at $0.706832/h; the L4's own price $0.56 comes out
    /// first, leaving 0.146832 split by the rate card: weight 194,236,000,000 as for 4 cores/16 GiB,
    /// CPU 146,832,000 * 1000 * 31,611,000 / 194,236,000,000 = 23,896,220.7 -> 23,896,221, RAM 3,202,944.5 -> 3,202,945.
    /// AWS g4dn.xlarge (4 vCPU, 16 GiB, 1 T4, no GPU price in the AWS catalog) at $0.526/h: the
    /// rate card's GPU $0.95 joins the weight: 194,236,000,000 + 1000 * 950,000,000 = 1,144,236,000,000;
    /// GPU 526e6 * 1000 * 950e6 / 1,144,236e6 = 436,710,609.3 -> 436,710,609 per GPU-hour;
    /// a GPU-minute is 436,710,609 / 60 = 7,278,510.15 -> 7,278,510.
    @Test("GPU nodes: a known GPU price is taken out first, else the GPU shares the split by the rate card")
    func gpuNodes() throws {
        let book = try Self.book()
        let g2 = book.rates(cloud: .gcp, region: "us-central1", node: NodeInfo(name: "g", instanceType: "g2-standard-4", capacityType: .onDemand))
        #expect(g2.gpuHour.nanoUSD == 560_000_000)
        #expect(g2.cpuCoreHour.nanoUSD == 23_896_221 && g2.ramGiBHour.nanoUSD == 3_202_945)
        let g4 = book.rates(cloud: .aws, region: "us-east-1", node: NodeInfo(name: "g", instanceType: "g4dn.xlarge", capacityType: .onDemand))
        #expect(g4.gpuHour.nanoUSD == 436_710_609)
        #expect(g4.capacity.gpus == 1 && g4.capacity.gpuModel == "nvidia-tesla-t4")
        // A pod holding the GPU for a minute pays the GPU-hour rate / 60, not 1000x that.
        let cost = Allocation.cost(of: Usage(sampledMillis: 60_000, gpuRequestMillis: 60_000), at: g4)
        #expect(cost.gpu.nanoUSD == 7_278_510)
        for rates in [g2, g4] {
            let node = try #require(Allocation.nodeCost(observedMillis: 3_600_000, at: rates))
            #expect(node.compute == rates.nodeHourly, "a whole node-hour costs the node's price")
        }
    }

    @Test("conservation: allocated + idle equals the node's cost to the nano-dollar, over random nodes and containers")
    func conservationProperty() throws {
        let book = try Self.book()
        var rng = SplitMix64(seed: 0x4B48_4230)
        let types: [(Cloud, String, String)] = [
            (.aws, "us-east-1", "m5.xlarge"), (.aws, "eu-west-1", "r5.xlarge"), (.aws, "us-east-1", "p4d.24xlarge"),
            (.gcp, "us-central1", "g2-standard-4"), (.azure, "eastus", "Standard_NC6s_v3"), (.aws, "us-east-1", "unknown.type"),
        ]
        for round in 0..<500 {
            let (cloud, region, type) = types[Int(rng.next() % UInt64(types.count))]
            let node = NodeInfo(
                name: "n\(round)", instanceType: type, region: region, capacityType: rng.next() % 2 == 0 ? .spot : .onDemand,
                cpuCapacityMillicores: UInt32(1000 + rng.next() % 64_000), memoryCapacityBytes: (1 + rng.next() % 256) << 30,
                gpuCount: UInt32(rng.next() % 3), hourlyPriceOverride: rng.next() % 7 == 0 ? "0.\(rng.next() % 1000)" : ""
            )
            let rates = book.rates(cloud: cloud, region: region, node: node)
            let observed = Int64(1 + rng.next() % 60) * 1000
            var allocated = [Cost]()
            for _ in 0..<Int(rng.next() % 40) {
                let usage = Usage(
                    cpuCoreNanos: Int64(rng.next() % 4_000_000_000) * observed / 1000,
                    cpuRequestCoreNanos: Int64(rng.next() % 4000) * observed * 1000,
                    memoryByteSeconds: Int64(rng.next() % (16 << 30)) * observed / 1000,
                    memoryRequestByteSeconds: Int64(rng.next() % (16 << 30)) * observed / 1000,
                    networkEgressBytes: NetworkClass.allCases.map { _ in Int64(rng.next() % (1 << 30)) }, sampledMillis: observed,
                    gpuRequestMillis: Int64(rng.next() % 2) * observed
                )
                allocated.append(Allocation.cost(of: usage, at: rates))
            }
            let idle = Allocation.idle(observedMillis: observed, allocated: allocated, at: rates)
            let total = allocated.reduce(Money.zero) { $0 + $1.compute } + idle.compute
            if let node = Allocation.nodeCost(observedMillis: observed, at: rates) {
                #expect(total == node.compute, "round \(round): \(type) allocated + idle = \(total), node \(node.compute)")
                #expect(node.compute.nanoUSD == Int64((Int128(rates.nodeHourly!.nanoUSD) * Int128(observed) * 2 + 3_600_000) / 7_200_000))
            } else {
                #expect(idle == .zero)
            }
        }
    }

    @Test("a price version is in force from its effective time until the next one")
    func scheduleSwitchesAtEffectiveTime() throws {
        var cheaper = try PricingTests.catalog()
        cheaper.clouds["aws"]!.regions["us-east-1"]!["m5.xlarge"]!.onDemandHourlyUSD = "0.096"
        let t: Int64 = 1_800_000_000_000
        let schedule = try PriceSchedule(versions: [(1, 0, try PricingTests.catalog()), (2, t, cheaper)])
        #expect(schedule.book(at: t - 1)?.priceVersion == 1)
        #expect(schedule.book(at: t)?.priceVersion == 2)
        #expect(schedule.book(at: t)?.rates(cloud: .aws, region: "us-east-1", node: Self.xlarge()).nodeHourly?.nanoUSD == 96_000_000)
        #expect(PriceSchedule.empty.book(at: t) == nil)
        #expect(cheaper.changes(from: try PricingTests.catalog()) == ["~ aws/us-east-1/m5.xlarge on-demand 0.192 -> 0.096"])
    }
}

/// Malformed catalogs: each is refused naming the file, the JSON path and the reason.
@Suite("Malformed catalogs")
struct MalformedCatalogTests {
    static func load(_ json: String) -> CatalogError? {
        do {
            _ = try PricingCatalog.decode(Data(json.utf8), file: "bad.json")
            return nil
        } catch {
            return error
        }
    }

    static func valid(_ edit: (inout [String: Any]) -> Void) throws -> String {
        let url = URL(fileURLWithPath: PricingTests.repositoryPricing + "/aws.json")
        var object = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
        edit(&object)
        return String(decoding: try JSONSerialization.data(withJSONObject: object), as: UTF8.self)
    }

    static func editType(_ o: inout [String: Any], _ field: String, _ value: Any?) {
        var clouds = o["clouds"] as! [String: Any]
        var aws = clouds["aws"] as! [String: Any]
        var regions = aws["regions"] as! [String: Any]
        var region = regions["us-east-1"] as! [String: Any]
        var type = region["m5.xlarge"] as! [String: Any]
        type[field] = value
        region["m5.xlarge"] = type
        regions["us-east-1"] = region
        aws["regions"] = regions
        clouds["aws"] = aws
        o["clouds"] = clouds
    }

    static let typePath = #"$.clouds.aws.regions["us-east-1"]["m5.xlarge"]"#

    @Test("not JSON")
    func notJSON() {
        #expect(Self.load("{\"schemaVersion\": 2,") == CatalogError(file: "bad.json", path: "$", "not valid JSON"))
    }

    @Test("an old schema version says what to do")
    func oldVersion() throws {
        let error = try #require(Self.load(#"{"schemaVersion": 1, "clouds": {}}"#))
        #expect(error.path == "$.schemaVersion" && error.reason.contains("expected 2") && error.file == "bad.json")
    }

    @Test("a price given as a number")
    func numberPrice() throws {
        let error = try #require(Self.load(try Self.valid { Self.editType(&$0, "onDemandHourlyUSD", 0.192) }))
        #expect(error.path == Self.typePath + ".onDemandHourlyUSD")
        #expect(error.reason.contains("decimal strings"))
    }

    @Test("a missing field")
    func missingField() throws {
        let error = try #require(Self.load(try Self.valid { Self.editType(&$0, "vcpu", nil) }))
        #expect(error.path == Self.typePath && error.reason == "missing field \"vcpu\"")
    }

    @Test("an absurd node price")
    func absurdPrice() throws {
        let error = try #require(Self.load(try Self.valid { Self.editType(&$0, "onDemandHourlyUSD", "19200") }))
        #expect(error.path == Self.typePath + ".onDemandHourlyUSD" && error.reason.contains("typo"))
        #expect(error.description.hasPrefix("bad.json: $.clouds.aws"))
    }

    @Test("spot above on-demand")
    func spotAboveOnDemand() throws {
        let error = try #require(Self.load(try Self.valid { Self.editType(&$0, "spotHourlyUSD", "0.5") }))
        #expect(error.path == Self.typePath + ".spotHourlyUSD" && error.reason.contains("swapped"))
    }

    @Test("GPUs without a model, an unknown egress class, an unknown cloud")
    func structuralRules() throws {
        let gpu = try #require(Self.load(try Self.valid { Self.editType(&$0, "gpus", 2) }))
        #expect(gpu.path == Self.typePath + ".gpuModel")
        let egress = try #require(Self.load(try Self.valid { o in
            var e = o["defaultEgressPerGiBUSD"] as! [String: Any]
            e["same-planet"] = "0.01"
            o["defaultEgressPerGiBUSD"] = e
        }))
        #expect(egress.path == #"$.defaultEgressPerGiBUSD["same-planet"]"# && egress.reason.contains("unknown class"))
        let cloud = try #require(Self.load(try Self.valid { o in
            var c = o["clouds"] as! [String: Any]
            c["oracle"] = c["aws"]
            o["clouds"] = c
        }))
        #expect(cloud.path == "$.clouds.oracle" && cloud.reason.contains("unknown cloud"))
    }
}

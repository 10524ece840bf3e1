import ArgumentParser
import KubeHeroCLI
import Testing

@Suite("kubehero pricing")
struct PricingCommandTests {
    @Test("show needs cloud, region and type, or cluster and node, not both")
    func showFlags() throws {
        _ = try PricingCommand.Show.parse(["--cloud", "aws", "--region", "us-east-1", "--type", "m5.xlarge", "--spot"])
        _ = try PricingCommand.Show.parse(["--cluster", "prod", "--node", "ip-10-0-1-1"])
        #expect(throws: (any Error).self) { try PricingCommand.Show.parse(["--cloud", "aws", "--region", "us-east-1"]) }
        #expect(throws: (any Error).self) { try PricingCommand.Show.parse(["--cluster", "prod", "--node", "n", "--type", "m5.large"]) }
        #expect(throws: (any Error).self) { try PricingCommand.Show.parse(["--cloud", "ibm", "--region", "r", "--type", "t"]) }
    }

    @Test("reprice and import refuse times that are not RFC 3339, naming the flag")
    func timeFlags() throws {
        _ = try PricingCommand.Reprice.parse(["--from", "2026-01-01T00:00:00Z", "--to", "2026-01-01T01:00:00Z"])
        do {
            _ = try PricingCommand.Reprice.parse(["--from", "yesterday", "--to", "2026-01-01T01:00:00Z"])
            Issue.record("accepted --from yesterday")
        } catch {
            #expect(PricingCommand.Reprice.message(for: error).contains("--from"))
        }
        #expect(throws: (any Error).self) { try PricingCommand.Import.parse(["--from", "x.json", "--effective-at", "soon"]) }
    }
}

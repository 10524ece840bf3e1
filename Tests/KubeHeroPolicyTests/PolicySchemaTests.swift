import Foundation
import KubeHeroPolicy
import Testing

/// The committed schema and CRD are what `PolicySchema` renders (regenerate with
/// scripts/generate-policy-schema.sh).
@Suite struct PolicySchemaTests {
    @Test func committedJSONSchemaIsGenerated() throws {
        let committed = try repositoryFile("policies/budgetpolicy.schema.json")
        #expect(committed == PolicySchema.jsonSchema.json() + "\n", "policies/budgetpolicy.schema.json is stale: run scripts/generate-policy-schema.sh")
    }

    @Test func committedCRDIsGenerated() throws {
        let committed = try repositoryFile("deploy/helm/kubehero/templates/crd-budgetpolicy.yaml")
        #expect(committed == PolicySchema.crdTemplate, "the BudgetPolicy CRD is stale: run scripts/generate-policy-schema.sh")
    }

    @Test func schemaAndParserAgreeOnTheCeilingPattern() throws {
        let regex = try Regex(PolicySchema.ceilingPattern)
        for text in ["$500000/mo", "$12.50/day", "$1/hr", "500k", "$-5/mo", "$1.234/mo", "$5/month"] {
            let bySchema = (try? regex.wholeMatch(in: text)) != nil
            let byParser = (try? Ceiling(parsing: text)) != nil
            #expect(bySchema == byParser, "\(text): schema \(bySchema), parser \(byParser)")
        }
    }
}

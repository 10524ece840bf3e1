import Foundation
import KubeHeroCore
import KubeHeroPolicy
import Testing

/// The repository's root, for the committed example policies and generated files.
let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

func repositoryFile(_ path: String) throws -> String {
    try String(contentsOf: repositoryRoot.appendingPathComponent(path), encoding: .utf8)
}

/// The issue's document, with line numbers the error tests refer to.
let issueDocument = """
    apiVersion: kubehero.kubehero.io/v1
    kind: BudgetPolicy
    metadata: { name: all-prod-ceiling }
    spec:
      scope:
        clusterSelector:
          matchLabels: { env: prod }
        namespaceSelector: { matchNames: [payments, search] }
        podSelector: { matchLabels: { team: ml } }
      ceiling: "$500000/mo"
      period: calendar
      thresholds:
        - { percent: 80, basis: actual }
        - { percent: 100, basis: forecast }
      alertChannels: [ { webhook: "https://hooks.example.com/x" } ]
      hardStop: true
      humanArm: true
    """

func parseError(_ yaml: String) -> PolicyDocumentError? {
    do throws(PolicyDocumentError) {
        _ = try BudgetPolicyParser.parseAll(yaml: yaml, source: "test.yaml")
        return nil
    } catch {
        return error
    }
}

@Suite struct ParserTests {
    @Test func theIssueDocumentParsesWithEveryField() throws {
        let p = try BudgetPolicyParser.parse(yaml: issueDocument, source: "issue")
        #expect(p.name == "all-prod-ceiling")
        #expect(p.spec.scope.clusterSelector == LabelSelector(matchLabels: ["env": "prod"]))
        #expect(p.spec.scope.namespaceSelector == NamespaceSelector(matchNames: ["payments", "search"]))
        #expect(p.spec.scope.podSelector == LabelSelector(matchLabels: ["team": "ml"]))
        #expect(p.spec.ceiling == Ceiling(amount: Money(nanoUSD: 500_000 * 1_000_000_000), unit: .month))
        #expect(p.spec.period == .calendar)
        #expect(p.spec.thresholds == [.init(percent: 80), .init(percent: 100, basis: .forecast)])
        #expect(p.spec.alertChannels == [.init(webhook: "https://hooks.example.com/x")])
        #expect(p.spec.hardStop && p.spec.humanArm)
    }

    @Test func defaultsAreFilledIn() throws {
        let p = try BudgetPolicyParser.parse(yaml: """
            apiVersion: kubehero.kubehero.io/v1
            kind: BudgetPolicy
            metadata: { name: minimal }
            spec: { scope: { clusterSelector: {} }, ceiling: "$12.50/day" }
            """, source: "t")
        #expect(p.spec.thresholds == [.init(percent: 50), .init(percent: 80), .init(percent: 100, basis: .forecast), .init(percent: 100)])
        #expect(p.spec.period == .calendar)
        #expect(!p.spec.hardStop)
        #expect(p.spec.humanArm)
        #expect(p.spec.ceiling.amount == Money(nanoUSD: 12_500_000_000))
        #expect(p.spec.ceiling.description == "$12.50/day")
    }

    @Test(arguments: [
        ("$500000/mo", "$500000/mo"), ("$1/hr", "$1/hr"), ("$0.05/day", "$0.05/day"), ("$7/wk", "$7/wk"), ("$1000000.1/yr", "$1000000.10/yr"),
    ])
    func ceilingsParseInEveryUnit(text: String, canonical: String) throws {
        #expect(try Ceiling(parsing: text).description == canonical)
    }

    @Test(arguments: ["500k", "$500k/mo", "$5/month", "$5", "$-5/mo", "-$5/mo", "$0/mo", "$1.234/mo", "$1,000/mo", "five dollars"])
    func badCeilingsAreRefused(text: String) {
        #expect(throws: ValidationError.self) { try Ceiling(parsing: text) }
    }

    @Test func ceiling500kNamesLineAndField() throws {
        let e = try #require(parseError(issueDocument.replacingOccurrences(of: "\"$500000/mo\"", with: "\"500k\"")))
        #expect(e.line == 10)
        #expect(e.field == "spec.ceiling")
        #expect(e.description.hasPrefix("test.yaml:10: spec.ceiling: \"500k\""))
    }

    @Test func negativeCeilingIsRefusedAsNegative() throws {
        let e = try #require(parseError(issueDocument.replacingOccurrences(of: "\"$500000/mo\"", with: "\"$-500/mo\"")))
        #expect(e.line == 10)
        #expect(e.reason.contains("negative"))
    }

    @Test func unknownFieldNamesItsLineAndPath() throws {
        let e = try #require(parseError(issueDocument.replacingOccurrences(of: "  hardStop: true", with: "  hardstop: true")))
        #expect(e.line == 16)
        #expect(e.field == "spec.hardstop")
        #expect(e.reason.contains("unknown field"))
    }

    @Test func unknownSelectorOperatorIsRefused() throws {
        let e = try #require(parseError(issueDocument.replacingOccurrences(
            of: "matchLabels: { env: prod }", with: "matchExpressions: [ { key: env, operator: Like, values: [prod] } ]"
        )))
        #expect(e.line == 7)
        #expect(e.field == "spec.scope.clusterSelector.matchExpressions[0].operator")
    }

    @Test func inWithoutValuesIsRefused() throws {
        let e = try #require(parseError(issueDocument.replacingOccurrences(
            of: "matchLabels: { env: prod }", with: "matchExpressions: [ { key: env, operator: In } ]"
        )))
        #expect(e.field == "spec.scope.clusterSelector.matchExpressions[0].values")
        #expect(e.line == 7)
    }

    @Test func badLabelKeyIsRefused() throws {
        let e = try #require(parseError(issueDocument.replacingOccurrences(of: "{ team: ml }", with: "{ \"team ml\": ml }")))
        #expect(e.field == "spec.scope.podSelector.matchLabels[team ml]")
        #expect(e.line == 9)
    }

    @Test func missingRequiredFieldIsNamed() throws {
        let e = try #require(parseError(issueDocument.replacingOccurrences(of: "  ceiling: \"$500000/mo\"\n", with: "")))
        #expect(e.field == "spec.ceiling")
        #expect(e.reason == "required field is missing")
    }

    @Test func wrongTypesAreRefused() throws {
        let notBool = try #require(parseError(issueDocument.replacingOccurrences(of: "hardStop: true", with: "hardStop: yes please")))
        #expect(notBool.field == "spec.hardStop")
        let percent = try #require(parseError(issueDocument.replacingOccurrences(of: "percent: 80,", with: "percent: \"80\",")))
        #expect(percent.field == "spec.thresholds[0].percent")
        #expect(percent.line == 13)
        let basis = try #require(parseError(issueDocument.replacingOccurrences(of: "basis: actual", with: "basis: guess")))
        #expect(basis.field == "spec.thresholds[0].basis")
        let period = try #require(parseError(issueDocument.replacingOccurrences(of: "period: calendar", with: "period: monthly")))
        #expect(period.field == "spec.period")
        #expect(period.line == 11)
    }

    @Test func wrongKindAndInvalidYAMLAreRefused() throws {
        #expect(parseError(issueDocument.replacingOccurrences(of: "kind: BudgetPolicy", with: "kind: Budget"))?.field == "kind")
        let yaml = try #require(parseError("apiVersion: [unclosed\n"))
        #expect(yaml.line != nil)
        #expect(parseError(issueDocument + "\n---\n" + issueDocument)?.reason.contains("defined twice") == true)
    }

    @Test func examplePoliciesParse() throws {
        let dir = repositoryRoot.appendingPathComponent("policies")
        let files = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasSuffix(".yaml") }.sorted()
        #expect(files == ["all-prod-ceiling.yaml", "namespace-daily-cap.yaml", "team-budgets.yaml"])
        var names: [String] = []
        for file in files {
            names += try BudgetPolicyParser.parseAll(yaml: try repositoryFile("policies/" + file), source: file).map(\.name)
        }
        #expect(names == ["all-prod-ceiling", "staging-sandbox-daily", "team-ml", "team-search", "team-data-weekly"])
    }

    @Test func jsonEncodingIsTheDocumentAndParsesBackToTheSamePolicy() throws {
        let p = try BudgetPolicyParser.parse(yaml: issueDocument, source: "issue")
        let json = p.canonicalJSON()
        #expect(json.hasPrefix(#"{"apiVersion":"kubehero.kubehero.io/v1","kind":"BudgetPolicy","metadata":{"name":"all-prod-ceiling"},"spec":{"#))
        // JSON is YAML: the strict parser reads the API's own output.
        #expect(try BudgetPolicyParser.parse(yaml: json, source: "json") == p)
        #expect(try JSONDecoder().decode(BudgetPolicy.self, from: Data(json.utf8)) == p)
    }
}

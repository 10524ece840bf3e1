import ArgumentParser
import KubeHeroCore

/// `kubehero token`: API tokens (admin only).
public struct TokenCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "token",
        abstract: "Create, list and revoke API tokens (needs an admin token).",
        subcommands: [Create.self, List.self, Revoke.self]
    )

    public init() {}

    public struct Create: AsyncParsableCommand {
        public static let configuration = CommandConfiguration(abstract: "Create a token; its secret is printed once.")
        @OptionGroup public var global: GlobalOptions
        @Option(help: "A name for the token (who or what uses it).") var name: String
        @Option(help: "admin or viewer.") var role = "viewer"
        @OptionGroup public var output: OutputOptions
        public init() {}

        public func validate() throws {
            guard role == "admin" || role == "viewer" else { throw ArgumentParser.ValidationError("--role: \"\(role)\" is not admin or viewer") }
        }

        public func run() async throws {
            let created = try await HubClient.withClient(try global.resolve()) { try await $0.createToken(name: name, role: role) }
            print(try StructuredOutput.render(created, as: output.output) { c in
                "created token \(c.token.id) (\(c.token.name), \(c.token.role)); its secret, shown only now:\n\(c.secret)"
            })
        }
    }

    public struct List: AsyncParsableCommand {
        public static let configuration = CommandConfiguration(abstract: "List tokens (never their secrets).")
        @OptionGroup public var global: GlobalOptions
        @OptionGroup public var output: OutputOptions
        public init() {}

        public func run() async throws {
            let tokens = try await HubClient.withClient(try global.resolve()) { try await $0.listTokens() }
            print(try StructuredOutput.render(tokens, as: output.output) { tokens in
                var table = TextTable(columns: [.init("ID"), .init("NAME"), .init("ROLE"), .init("CREATED"), .init("REVOKED")])
                for t in tokens { table.rows.append([t.id, t.name, t.role, t.createdAt, t.revokedAt ?? "-"]) }
                return table.render()
            })
        }
    }

    public struct Revoke: AsyncParsableCommand {
        public static let configuration = CommandConfiguration(abstract: "Revoke a token by id; it stops working at once.")
        @OptionGroup public var global: GlobalOptions
        @Argument(help: "The token's id (kubehero token list).") var id: String
        public init() {}

        public func run() async throws {
            try await HubClient.withClient(try global.resolve()) { try await $0.revokeToken(id: id) }
            print("revoked token \(id)")
        }
    }
}

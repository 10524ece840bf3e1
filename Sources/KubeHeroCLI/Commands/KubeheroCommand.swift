import ArgumentParser

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `kubehero`: the command-line client of a KubeHero hub.
///
/// `Sources/kubehero/main.swift` is `await KubeheroCommand.main()`.
public struct KubeheroCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "kubehero",
        abstract: "Register clusters with a KubeHero hub and ask it what they cost.",
        discussion: """
            The hub, token and CA come from --hub/--token/--ca-file, else KUBEHERO_HUB, \
            KUBEHERO_TOKEN, KUBEHERO_CA_FILE, else the config file (--config, KUBEHERO_CONFIG, \
            or ~/.kubehero/config.yaml; kubehero-hub init writes one as DIR/admin.yaml).
            """,
        subcommands: [ClusterCommand.self, CostCommand.self, SeriesCommand.self, PricingCommand.self, PolicyCommand.self, AuditCommand.self, TokenCommand.self, DemoCommand.self]
    )

    public init() {}

    /// Runs the command line and exits. Every failure prints one line, `error: <reason>`, to
    /// standard error: exit code 1, or ArgumentParser's code (64) for a usage error.
    public static func main(_ arguments: [String]?) async {
        let command: any ParsableCommand
        do {
            command = try await asyncParseAsRoot(arguments)
        } catch {
            exitForUsageError(error)
        }
        do {
            var command = command
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch let error as ExitCode {
            exit(withError: error)
        } catch {
            // `kubehero help ...` and `--help` arrive here as ArgumentParser's own errors.
            switch exitCode(for: error) {
            case .success: exit(withError: error)
            case .validationFailure: exitForUsageError(error)
            default: Terminal.fail(ErrorLine.render(error), code: 1)
            }
        }
    }

    public static func main() async {
        await main(nil)
    }

    /// Help and version requests print as ArgumentParser prints them; a bad command line is
    /// one line naming what is wrong and where to find the usage.
    private static func exitForUsageError(_ error: any Error) -> Never {
        let code = exitCode(for: error)
        if code == .success { exit(withError: error) }
        Terminal.fail(usageLine(for: error), code: code.rawValue)
    }

    /// `error: Missing expected argument '--name <name>' (see 'kubehero cluster add --help')`.
    static func usageLine(for error: any Error) -> String {
        var reason = ErrorLine.oneLine(message(for: error))
        if reason.isEmpty { reason = "invalid command line" }
        // ArgumentParser's full message ends with "See 'kubehero cluster add --help' for more information."
        let full = fullMessage(for: error)
        if let see = full.firstRange(of: "See '"), let end = full[see.upperBound...].firstIndex(of: "'") {
            reason += " (see '\(full[see.upperBound..<end])')"
        } else {
            reason += " (see 'kubehero --help')"
        }
        return "error: " + reason
    }
}

enum Terminal {
    /// Writes `line` and a newline to standard error, then exits with `code`.
    static func fail(_ line: String, code: Int32) -> Never {
        let bytes = Array((line + "\n").utf8)
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
            if n <= 0 { break }
            offset += n
        }
        exit(code)
    }
}

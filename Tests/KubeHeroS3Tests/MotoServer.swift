import AsyncHTTPClient
import Foundation
import KubeHeroCLI
import KubeHeroTestSupport
import NIOCore
import NIOHTTP1
import Testing

@testable import KubeHeroS3

/// moto's S3-compatible server (PyPI `moto[server]`, installed into .venv-tools by
/// scripts/setup.sh) on a loopback port, with signature checking on: the first three requests
/// (IAM CreateUser, PutUserPolicy, CreateAccessKey) go unchecked, every later one must be
/// signed with the access key they made.
struct MotoServer {
    static let executable = ProcessInfo.processInfo.environment["KUBEHERO_MOTO_SERVER"]
        ?? TestHub.repositoryRoot + "/.venv-tools/bin/moto_server"
    static var isInstalled: Bool { FileManager.default.isExecutableFile(atPath: executable) }
    static let skipReason: Comment = "moto_server is not installed (run scripts/setup.sh, which puts moto[server] into .venv-tools)"

    let process: Process
    let port: Int
    let credentials: AWSCredentials
    let log: String

    var endpoint: String { "http://127.0.0.1:\(port)" }

    /// Starts a server, waits (at most 30 s) until it accepts connections, makes the access key,
    /// runs `body`, and stops the server whatever happened.
    static func with<R>(_ body: (MotoServer) async throws -> R) async throws -> R {
        let port = try FreePort.next()
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("moto-\(port).log").path
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = ["-H", "127.0.0.1", "-p", "\(port)"]
        var env = ProcessInfo.processInfo.environment
        env["INITIAL_NO_AUTH_ACTION_COUNT"] = "3"
        process.environment = env
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        let result: Result<R, any Error>
        do {
            try await waitUntilListening(port: port, process: process, log: log)
            let credentials = try await makeAccessKey(endpoint: "http://127.0.0.1:\(port)")
            result = .success(try await body(MotoServer(process: process, port: port, credentials: credentials, log: log)))
        } catch {
            result = .failure(error)
        }
        await stop(process)
        try? handle.close()
        try? FileManager.default.removeItem(atPath: log)
        return try result.get()
    }

    /// SIGTERM, then SIGKILL if it is still there after 5 s.
    static func stop(_ process: Process) async {
        guard process.isRunning else { return }
        process.terminate()
        // Waiting without blocking a cooperative thread: the other suites' hubs need them.
        let deadline = Date().addingTimeInterval(5)
        while process.isRunning, Date() < deadline { try? await Task.sleep(for: .milliseconds(50)) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }

    static func waitUntilListening(port: Int, process: Process, log: String) async throws {
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline {
            guard process.isRunning else {
                throw CLIError("moto_server exited: \((try? String(contentsOfFile: log, encoding: .utf8)) ?? "")")
            }
            if canConnect(port: port) { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw CLIError("moto_server did not listen on 127.0.0.1:\(port) within 30 s")
    }

    static func canConnect(port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = UInt16(port).bigEndian
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        return withUnsafePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
    }

    /// An IAM user allowed s3:* and its access key, made with the three unchecked requests.
    static func makeAccessKey(endpoint: String) async throws -> AWSCredentials {
        let http = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup)
        do {
            let user = "kubehero-forwarder"
            let policy = #"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}"#
            _ = try await iam(http, endpoint, [("Action", "CreateUser"), ("UserName", user)])
            _ = try await iam(http, endpoint, [("Action", "PutUserPolicy"), ("UserName", user), ("PolicyName", "s3"), ("PolicyDocument", policy)])
            let answer = try await iam(http, endpoint, [("Action", "CreateAccessKey"), ("UserName", user)])
            try await http.shutdown()
            guard let id = S3XML.values("AccessKeyId", in: answer).first, let secret = S3XML.values("SecretAccessKey", in: answer).first else {
                throw CLIError("moto's CreateAccessKey answer has no key: \(answer)")
            }
            return AWSCredentials(accessKeyID: id, secretAccessKey: secret)
        } catch {
            try? await http.shutdown()
            throw error
        }
    }

    /// One IAM query-API call (form-encoded POST), signed though moto does not check it yet.
    static func iam(_ http: HTTPClient, _ endpoint: String, _ parameters: [(String, String)]) async throws -> String {
        let form = (parameters + [("Version", "2010-05-08")])
            .map { SigV4Signer.uriEncode($0.0, keepSlash: false) + "=" + SigV4Signer.uriEncode($0.1, keepSlash: false) }
            .joined(separator: "&")
        let body = Array(form.utf8)
        let host = try S3Client.Endpoint(parsing: endpoint).hostHeader
        let signer = SigV4Signer(credentials: AWSCredentials(accessKeyID: "bootstrap", secretAccessKey: "bootstrap"), region: "us-east-1", service: "iam")
        let contentType = ("content-type", "application/x-www-form-urlencoded; charset=utf-8")
        let signed = signer.sign(method: "POST", host: host, path: "/", query: [], headers: [contentType], payloadHash: SigV4Signer.sha256Hex(body), unixSeconds: Int64(Date().timeIntervalSince1970))
        var request = HTTPClientRequest(url: endpoint + "/")
        request.method = .POST
        for (name, value) in [contentType] + signed.addedHeaders { request.headers.add(name: name, value: value) }
        request.headers.add(name: "authorization", value: signed.authorization)
        request.body = .bytes(ByteBuffer(bytes: body))
        let response = try await http.execute(request, timeout: .seconds(30))
        let text = String(buffer: try await response.body.collect(upTo: 1 << 20))
        guard response.status.code == 200 else { throw CLIError("moto IAM \(parameters[0].1): HTTP \(response.status.code): \(text)") }
        return text
    }
}

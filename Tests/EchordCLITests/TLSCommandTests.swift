import EchordGateway
import EchordModels
import EchordTestSupport
import Foundation
import Testing

@testable import EchordSimulator
@testable import echord

/// `echord simulate --tls` and `echord listen --ca-file`.
@Suite("echord over TLS", .timeLimit(.minutes(3 * TestTime.scale)))
struct TLSCommandTests {
    /// A fresh temporary directory, removed by the caller.
    static func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("echord-tls-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    @Test("subprocesses: simulate --tls --tls-cert-out, then listen --ca-file prints READY and events; without --ca-file, exit 1 naming TLS")
    func simulateAndListen() async throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let certificatePath = directory.appendingPathComponent("c.pem").path
        let simulator = try ChildProcess(arguments: [
            "simulate", "--tls", "--port", "0", "--tls-cert-out", certificatePath, "--guilds", "2", "--traffic", "50",
            "--identify-bucket", "0", "--log-level", "warning",
        ])
        var listener: ChildProcess?
        do {
            var base = ""
            try await eventually("the banner; stderr: \(simulator.stderr)") {
                guard let line = simulator.stdout.split(separator: "\n").first(where: { $0.hasPrefix("echord simulator on ") }) else {
                    return false
                }
                base = String(line.dropFirst("echord simulator on ".count))
                return true
            }
            #expect(base.hasPrefix("https://127.0.0.1:"))
            #expect(simulator.stdout.contains("wss://127.0.0.1:"), "the banner's gateway URL is wss://")
            let pem = try String(contentsOfFile: certificatePath, encoding: .utf8)
            #expect(pem.hasPrefix("-----BEGIN CERTIFICATE-----"))

            // Without the certificate: refused at discovery, with a message that says why.
            let untrusting = try ChildProcess(
                arguments: ["listen", "--api-url", base + "/api/v10", "--format", "json"], environment: ["DISCORD_TOKEN": testToken])
            let refused = try await untrusting.waitForExit()
            #expect(refused == 1)
            #expect(untrusting.stderr.contains("TLS handshake failed") && untrusting.stderr.contains("--ca-file"), "\(untrusting.stderr)")
            #expect(untrusting.stdout.isEmpty)

            let trusting = try ChildProcess(
                arguments: ["listen", "--api-url", base + "/api/v10", "--ca-file", certificatePath, "--format", "json", "--compress", "zlib"],
                environment: ["DISCORD_TOKEN": testToken])
            listener = trusting
            func parsed() throws -> [ListenLine] { try trusting.stdout.split(separator: "\n").map { try ListenLine(String($0)) } }
            try await eventually("READY, GUILD_CREATE and traffic on stdout; stderr: \(trusting.stderr)") {
                let names = try parsed().map(\.t)
                return names.first == "READY" && names.contains("GUILD_CREATE") && names.contains("MESSAGE_CREATE")
            }
            trusting.terminate()
            #expect(try await trusting.waitForExit() == 0, "stderr: \(trusting.stderr)")
            #expect(!trusting.stdout.contains(testToken) && !trusting.stderr.contains(testToken))
        } catch {
            listener?.terminate()
            _ = try? await listener?.waitForExit()
            simulator.terminate()
            _ = try? await simulator.waitForExit()
            throw error
        }
        simulator.terminate()
        #expect(try await simulator.waitForExit() == 0, "stderr: \(simulator.stderr)")
    }

    @Test("in process: --tls-cert/--tls-key serve the given certificate; listen --ca-file trusts it")
    func givenCertificate() async throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let (certificate, key) = try SelfSignedCertificate.make(validity: .seconds(3600))
        let certificatePath = directory.appendingPathComponent("cert.pem").path
        let keyPath = directory.appendingPathComponent("key.pem").path
        try Data(certificate.utf8).write(to: URL(fileURLWithPath: certificatePath))
        try Data(key.utf8).write(to: URL(fileURLWithPath: keyPath))

        let command = try Simulate.parse(["--port", "0", "--tls-cert", certificatePath, "--tls-key", keyPath])
        #expect(command.usesTLS)
        var configuration = command.makeConfiguration()
        configuration.tls = try command.makeTLSConfiguration()
        configuration.identifyBucketMilliseconds = 0
        let simulator = try await GatewaySimulator.start(configuration: configuration, logger: quietLogger)
        #expect(simulator.certificatePEM == certificate)
        #expect(simulator.apiBaseURL.hasPrefix("https://"))

        let settings = try Listen.parse(["--api-url", simulator.apiBaseURL, "--ca-file", certificatePath, "--format", "json"])
            .settings(environment: ["DISCORD_TOKEN": testToken])
        #expect(settings.trustRoots == [.pemFile(certificatePath)])
        let sink = MemorySink()
        let stop = StopSwitch()
        let running = ListenTests.start(settings, sink: sink, stop: stop)
        do {
            try await eventually("READY printed") { sink.lines.contains { $0.contains("\"READY\"") } }
        } catch {
            stop.raise()
            _ = await running.result
            try? await simulator.shutdown()
            throw error
        }
        stop.raise()
        _ = try await running.value
        try await simulator.shutdown()
    }

    @Test("flags: --tls-cert needs --tls-key, --tls-cert-out needs TLS, a missing --ca-file is a clear error")
    func flags() async throws {
        #expect(throws: (any Error).self) { try Simulate.parse(["--tls-cert", "c.pem"]) }
        #expect(throws: (any Error).self) { try Simulate.parse(["--tls-key", "k.pem"]) }
        #expect(throws: (any Error).self) { try Simulate.parse(["--tls-cert-out", "c.pem"]) }
        #expect(try Simulate.parse(["--tls", "--tls-cert-out", "c.pem"]).usesTLS)
        #expect(try !Simulate.parse([]).usesTLS)
        #expect(try Simulate.parse([]).makeTLSConfiguration() == nil)
        #expect(throws: SimulatorTLSError.self) {
            try Simulate.parse(["--tls-cert", "/nonexistent/c.pem", "--tls-key", "/nonexistent/k.pem"]).makeTLSConfiguration()
        }

        let missing = "/nonexistent/echord-ca.pem"
        let settings = try Listen.parse(["--api-url", "https://127.0.0.1:1/api/v10", "--ca-file", missing])
            .settings(environment: ["DISCORD_TOKEN": testToken])
        let result = await ListenTests.start(settings, sink: MemorySink(), stop: StopSwitch()).result
        guard case .failure(let error) = result else {
            Issue.record("listen ran with a missing --ca-file")
            return
        }
        let message = listenErrorMessage(error, token: BotToken(testToken))
        #expect(message.hasPrefix("--ca-file: cannot read the CA file \(missing)"), "\(message)")
    }
}

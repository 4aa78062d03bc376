import EchordGateway
import EchordTesting
import EchordModels
import EchordTestSupport
import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import Testing

@testable import EchordSimulator

/// The client's TLS path (`https://` discovery, `wss://` gateway and resume URLs) against a TLS
/// simulator, trusted through `additionalTrustRoots`, with verification always on.
@Suite("TLS: https and wss against the simulator", .timeLimit(.minutes(3 * TestTime.scale)))
struct TLSTests {
    /// A TLS simulator (manual time) with `identity`, or a certificate made at start.
    static func simulator(
        _ identity: SimulatorTLSConfiguration.Identity = .generated, _ configure: (inout SimulatorConfiguration) -> Void = { _ in }
    ) async throws -> GatewaySimulator {
        var configuration = SimulatorConfiguration()
        configuration.timeSource = .manual
        configuration.identifyBucketMilliseconds = 0
        configuration.tls = SimulatorTLSConfiguration(identity: identity)
        configure(&configuration)
        return try await GatewaySimulator.start(configuration: configuration, logger: quiet)
    }

    static var quiet: Logger {
        var logger = Logger(label: "echord.test")
        logger.logLevel = .critical
        return logger
    }

    /// Runs `body` bounded by `timeout` of real time (a retry on a manual clock would hang).
    static func bounded<T: Sendable>(_ timeout: Duration = .seconds(30), _ body: @escaping @Sendable () async throws -> T) async throws -> T {
        try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask { try await body() }
            group.addTask {
                try await Task.sleep(for: TestTime.bound(timeout))
                return nil
            }
            let first = try await group.next()!
            group.cancelAll()
            guard let first else { throw HarnessError.timedOut("no answer within \(timeout)") }
            return first
        }
    }

    /// The outcome of `body` as a `Result`.
    static func result<T>(_ body: () async throws -> T) async -> Result<T, any Error> {
        do { return .success(try await body()) } catch { return .failure(error) }
    }

    @Test("a Shard over wss: READY, then op 7 and a RESUME on the wss:// resume URL, with no new IDENTIFY")
    func shardResumesOverWSS() async throws {
        try await Harness.with(compression: .zlibStream, simulator: { $0.tls = .selfSigned }) { harness, _ in
            #expect(harness.simulator.gatewayURL.hasPrefix("wss://127.0.0.1:"))
            #expect(harness.simulator.certificatePEM?.hasPrefix("-----BEGIN CERTIFICATE-----") == true)
            let events = EventCollector(harness.shard)
            try await harness.waitForStatus { $0 == .ready }
            let session = try #require(harness.shard.session)
            #expect(session.resumeGatewayURL == "wss://127.0.0.1:\(harness.simulator.port)/resume")
            for n in 0..<2 { try await harness.simulator.dispatch(eventName: "TEST_EVENT", data: .object([("n", .int(Int64(n)))])) }
            #expect(try await harness.simulator.inject(.reconnect) == 1)
            for n in 2..<4 { try await harness.simulator.dispatch(eventName: "TEST_EVENT", data: .object([("n", .int(Int64(n)))])) }
            try await harness.eventually { events.count(of: "RESUMED") == 1 && events.count(of: "TEST_EVENT") == 4 }
            // On the wire (every connection of a TLS simulator is TLS): IDENTIFY on /gateway, then a
            // RESUME of the same session on /resume.
            #expect(try await harness.connectionPaths() == ["/gateway", "/resume"])
            #expect(try await harness.handshakeOps() == [2, 6])
            let resume = try #require(try await harness.clientFrames().first { $0.op == 6 })
            #expect(resume.text.contains(session.sessionID))
            let sessions = try await harness.simulator.sessions()
            #expect(sessions.count == 1 && sessions.first?.id == session.sessionID)
            #expect(try await harness.simulator.brokenRules().isEmpty)
            let sequences = events.dispatches.compactMap(\.sequence)
            #expect(sequences == Array(1...sequences.count))
            // Two handshakes to an IP address: no SNI (an IP literal must not be sent as a name).
            #expect(harness.simulator.tlsServerNames() == [nil, nil])
        }
    }

    @Test("a dropped TLS connection → RESUME on the wss:// resume URL after backoff, missed events replayed")
    func droppedConnection() async throws {
        try await Harness.with(simulator: { $0.tls = .selfSigned }) { harness, _ in
            let events = EventCollector(harness.shard)
            try await harness.waitForStatus { $0 == .ready }
            #expect(try await harness.simulator.inject(.dropConnection) == 1)
            try await harness.waitForStatus { if case .disconnected = $0 { true } else { false } }
            for n in 0..<3 { try await harness.simulator.dispatch(eventName: "TEST_EVENT", data: .object([("n", .int(Int64(n)))])) }
            _ = try await harness.advance(by: .milliseconds(100)) { events.count(of: "RESUMED") == 1 }
            try await harness.eventually { events.count(of: "TEST_EVENT") == 3 }
            #expect(try await harness.connectionPaths() == ["/gateway", "/resume"])
            #expect(try await harness.handshakeOps() == [2, 6])
        }
    }

    @Test("wss://localhost: SNI and the certificate's DNS name; READY")
    func shardByHostName() async throws {
        try await Harness.with(simulator: { $0.tls = .selfSigned }, shard: { shard in
            shard.gatewayURL = shard.gatewayURL.replacingOccurrences(of: "127.0.0.1", with: "localhost")
        }) { harness, _ in
            try await harness.waitForStatus { $0 == .ready }
            #expect(harness.shard.configuration.gatewayURL.hasPrefix("wss://localhost:"))
            #expect(try await harness.connectionPaths() == ["/gateway"])
            #expect(harness.simulator.tlsServerNames() == ["localhost"])
        }
    }

    @Test("IPv6: https://[::1] discovery and wss://[::1] gateway, verified against the certificate's IP SAN ::1 (no SNI)")
    func ipv6Literal() async throws {
        try await Harness.with(simulator: { $0.host = "::1"; $0.tls = .selfSigned }) { harness, _ in
            #expect(harness.simulator.gatewayURL == "wss://[::1]:\(harness.simulator.port)/gateway")
            try await harness.waitForStatus { $0 == .ready }
            #expect(harness.shard.session?.resumeGatewayURL == "wss://[::1]:\(harness.simulator.port)/resume")
            let pem = try #require(harness.simulator.certificatePEM)
            let info = try await Self.bounded {
                try await GatewayDiscovery(
                    apiBaseURL: harness.simulator.apiBaseURL, token: BotToken(Harness.token), maxAttempts: 1,
                    additionalTrustRoots: [.pem(pem)]
                ).gatewayBot()
            }
            #expect(info.url == harness.simulator.gatewayURL)
            #expect(harness.simulator.tlsServerNames() == [nil, nil], "no SNI for an IPv6 literal either")
        }
    }

    @Test("a ShardManager over https and wss: discovery hands out wss://, every shard READY, op 7 → RESUME on the resume URL")
    func managerOverTLS() async throws {
        let simulator = try await Self.simulator { configuration in
            configuration.world.guildCount = 4
            configuration.recommendedShards = 2
            configuration.maxConcurrency = 2
        }
        let harness = try await ManagerHarness.start(shards: 2, maxConcurrency: 2, simulator: simulator)
        #expect(harness.manager.configuration.apiBaseURL.hasPrefix("https://127.0.0.1:"))
        let running = Task { try await harness.manager.run() }
        do {
            try await harness.advance { harness.manager.health.allReady && harness.manager.statuses.count == 2 }
            for shard in harness.manager.shards.values {
                #expect(shard.configuration.gatewayURL == "wss://127.0.0.1:\(simulator.port)/gateway")
                #expect(shard.session?.resumeGatewayURL == "wss://127.0.0.1:\(simulator.port)/resume")
            }
            #expect(try await simulator.inject(.reconnect, target: .shard(1)) == 1)
            try await harness.advance {
                try await simulator.log().contains { $0.kind == .received && $0.opcode == 6 } && harness.manager.health.allReady
            }
            let log = try await simulator.log()
            let handshakes = log.filter { $0.kind == .received && ($0.opcode == 2 || $0.opcode == 6) }
            #expect(handshakes.filter { $0.opcode == 2 }.count == 2, "one IDENTIFY per shard, none after op 7")
            let resume = try #require(handshakes.first { $0.opcode == 6 })
            let session = try #require(harness.manager.shards[1]?.session)
            #expect(resume.text?.contains("\"session_id\":\"\(session.sessionID)\"") == true, "shard 1 resumed its own session")
            let paths = Dictionary(log.compactMap { entry -> (Int, String)? in
                if case .connected(let path, _) = entry.kind { (entry.connectionID, path) } else { nil }
            }) { $1 }
            #expect(paths[resume.connectionID] == "/resume")
            #expect(try await simulator.brokenRules().isEmpty)
        } catch {
            harness.manager.stop()
            _ = await running.result
            try? await simulator.shutdown()
            throw error
        }
        harness.manager.stop()
        try await running.value
        try await simulator.shutdown()
    }

    @Test("GET /gateway/bot over https: wss:// in the answer")
    func discoveryOverHTTPS() async throws {
        let simulator = try await Self.simulator()
        let pem = try #require(simulator.certificatePEM)
        let info = try await Self.bounded {
            try await GatewayDiscovery(
                apiBaseURL: simulator.apiBaseURL, token: BotToken(Harness.token), maxAttempts: 1,
                additionalTrustRoots: [.pem(pem)]
            ).gatewayBot()
        }
        try await simulator.shutdown()
        #expect(info.url == "wss://127.0.0.1:\(simulator.port)/gateway")
    }

    @Test("discovery that does not trust the certificate fails at once with tlsFailed (not retried, never unverified)")
    func discoveryUntrusted() async throws {
        let simulator = try await Self.simulator()
        // A manual clock: a retry would sleep on it forever, and the bound would fail the test.
        let discovery = GatewayDiscovery(
            apiBaseURL: simulator.apiBaseURL, token: BotToken(Harness.token), clock: GatewayClock(ManualClock()), maxAttempts: 5)
        let result = await Self.result { try await Self.bounded { try await discovery.gatewayBot() } }
        try await simulator.shutdown()
        guard case .failure(GatewayDiscoveryError.tlsFailed(let reason)) = result else {
            Issue.record("expected tlsFailed, got \(result)")
            return
        }
        #expect(reason.contains("not trusted"), "\(reason)")
        #expect(!reason.contains(Harness.token))
    }

    @Test("a Shard that does not trust the certificate never connects: disconnected with a TLS reason, no upgrade")
    func shardUntrusted() async throws {
        try await Harness.with(simulator: { $0.tls = .selfSigned }, shard: { $0.additionalTrustRoots = [] }) { harness, _ in
            try await harness.waitForStatus {
                if case .disconnected(.transport(.connect(.tlsFailed))) = $0 { true } else { false }
            }
            guard case .disconnected(let disconnect) = harness.shard.status else { return }
            let reason = "\(disconnect)"
            #expect(reason.contains("not trusted"), "\(reason)")
            #expect(try await harness.connectionPaths().isEmpty, "no WebSocket was ever accepted")
            #expect(try await harness.clientFrames().isEmpty)
        }
    }

    @Test("a server that never answers the TLS (or HTTP) handshake: handshakeTimedOut, not a TLS or connection error", arguments: ["wss", "ws"])
    func silentServer(scheme: String) async throws {
        let accepted = NIOLockedValueBox(0)
        let silent = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .childChannelInitializer { channel in
                accepted.withLockedValue { $0 += 1 }
                return channel.eventLoop.makeSucceededVoidFuture()
            }
            .bind(host: "127.0.0.1", port: 0).get()
        let port = try #require(silent.localAddress?.port)
        var configuration = ShardConfiguration(token: BotToken(Harness.token), intents: .guilds)
        configuration.gatewayURL = "\(scheme)://127.0.0.1:\(port)/gateway"
        configuration.transport.handshakeTimeout = TestTime.bound(.milliseconds(300))
        // Backoff on a manual clock that never moves: one attempt, then the status stays put.
        let shard = Shard(configuration: configuration, clock: GatewayClock(ManualClock()), logger: Self.quiet)
        let running = Task { try await shard.run() }
        let status = try await Self.bounded {
            for await status in shard.statusUpdates() { if case .disconnected = status { return status } }
            return shard.status
        }
        // On a loaded machine the server's accept can run after the client's timeout fired.
        let acceptedCount = try await Self.bounded {
            while accepted.withLockedValue({ $0 }) == 0 { try await Task.sleep(for: .milliseconds(10)) }
            return accepted.withLockedValue { $0 }
        }
        shard.stop()
        _ = await running.result
        try await silent.close()
        #expect(status == .disconnected(reason: .transport(.connect(.handshakeTimedOut))))
        #expect(acceptedCount == 1)
    }

    @Test("a trusted certificate that does not name 127.0.0.1 is refused (the IP is checked against the IP SANs)")
    func wrongName() async throws {
        let (certificate, key) = try SelfSignedCertificate.make(validity: .seconds(3600), dnsNames: ["example.invalid"], ipAddresses: [])
        try await Harness.with(simulator: { $0.tls = .init(identity: .pem(certificateChain: certificate, privateKey: key)) }) { harness, _ in
            #expect(harness.shard.configuration.additionalTrustRoots == [.pem(certificate)])
            try await harness.waitForStatus {
                if case .disconnected(.transport(.connect(.tlsFailed))) = $0 { true } else { false }
            }
            guard case .disconnected(let disconnect) = harness.shard.status else { return }
            let reason = "\(disconnect)"
            #expect(reason.contains("does not name 127.0.0.1"), "\(reason)")
            #expect(try await harness.connectionPaths().isEmpty)
        }
    }

    @Test("an expired certificate is refused, trusted or not")
    func expired() async throws {
        let (certificate, key) = try SelfSignedCertificate.make(validity: .seconds(60), now: Date().addingTimeInterval(-86_400))
        let simulator = try await Self.simulator(.pem(certificateChain: certificate, privateKey: key))
        let discovery = GatewayDiscovery(
            apiBaseURL: simulator.apiBaseURL, token: BotToken(Harness.token), maxAttempts: 1, additionalTrustRoots: [.pem(certificate)])
        let result = await Self.result { try await Self.bounded { try await discovery.gatewayBot() } }
        try await simulator.shutdown()
        guard case .failure(GatewayDiscoveryError.tlsFailed) = result else {
            Issue.record("expected tlsFailed, got \(result)")
            return
        }
    }

    @Test("trust roots that cannot be loaded: a typed error before any connection, from Shard, ShardManager and discovery")
    func badTrustRoots() async throws {
        let simulator = try await Self.simulator()
        let missing = "/nonexistent/echord-ca-\(UUID().uuidString).pem"
        var shardConfiguration = ShardConfiguration(token: BotToken(Harness.token), intents: .guilds)
        shardConfiguration.gatewayURL = simulator.gatewayURL
        shardConfiguration.additionalTrustRoots = [.pemFile(missing)]
        let shard = Shard(configuration: shardConfiguration, logger: Self.quiet)
        await #expect {
            try await shard.run()
        } throws: { error in
            guard case TLSTrustRootError.unreadableFile(let path, _) = error else { return false }
            return path == missing
        }

        var managerConfiguration = ShardManager.Configuration(token: BotToken(Harness.token), intents: .guilds)
        managerConfiguration.apiBaseURL = simulator.apiBaseURL
        managerConfiguration.shard.additionalTrustRoots = [.pem("not a certificate")]
        let manager = ShardManager(configuration: managerConfiguration, logger: Self.quiet)
        await #expect(throws: TLSTrustRootError.noCertificate(source: "PEM text")) { try await manager.run() }

        let garbled = "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n"
        let discovery = GatewayDiscovery(
            apiBaseURL: simulator.apiBaseURL, token: BotToken(Harness.token), additionalTrustRoots: [.pem(garbled)])
        await #expect {
            try await discovery.gatewayBot()
        } throws: { error in
            if case TLSTrustRootError.invalidPEM = error { true } else { false }
        }
        #expect(try await simulator.log().isEmpty, "nothing reached the simulator")
        try await simulator.shutdown()
    }
}

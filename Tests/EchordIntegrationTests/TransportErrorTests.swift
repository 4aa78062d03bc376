import EchordGateway
import EchordModels
import EchordSimulator
import EchordTestSupport
import Testing

/// A connection that cannot be opened says why, in the shard's status.
@Suite("Transport errors", .timeLimit(.minutes(3 * TestTime.scale)))
struct TransportErrorTests {
    /// Waits for the shard's first disconnect and returns its transport error.
    static func firstConnectError(_ harness: Harness) async throws -> GatewayTransportError? {
        try await harness.waitForStatus { if case .disconnected = $0 { true } else { false } }
        guard case .disconnected(.transport(.connect(let error))) = harness.shard.status else { return nil }
        return error
    }

    @Test("a refused WebSocket upgrade carries the server's HTTP status")
    func upgradeRefused() async throws {
        let error = try await Harness.with(shard: {
            $0.gatewayURL = String($0.gatewayURL.dropLast("/gateway".count)) + "/api/v10/not-a-gateway"
        }) { harness, _ in try await Self.firstConnectError(harness) }
        #expect(error == .upgradeRefused(status: 404))
    }

    @Test("wss:// to a plain server is a TLS failure, not a handshake timeout")
    func tlsFailure() async throws {
        let error = try await Harness.with(shard: { $0.gatewayURL = "wss://" + $0.gatewayURL.dropFirst("ws://".count) }) { harness, _ in
            try await Self.firstConnectError(harness)
        }
        guard case .tlsFailed? = error else {
            Issue.record("expected a TLS failure, got \(String(describing: error))")
            return
        }
    }

    @Test("a refused connection is a connection failure, not a handshake timeout")
    func refused() async throws {
        let reserved = try ReservedPort()
        defer { reserved.release() }
        let error = try await Harness.with(shard: { $0.gatewayURL = "ws://127.0.0.1:\(reserved.port)/gateway" }) { harness, _ in
            try await Self.firstConnectError(harness)
        }
        guard case .connectionFailed(let what)? = error else {
            Issue.record("expected a connection failure, got \(String(describing: error))")
            return
        }
        #expect(what.contains("refused") || what.contains("ECONNREFUSED") || what.contains("111"), "\(what)")
    }
}

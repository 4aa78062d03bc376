import EchordGateway
import EchordSimulator
import EchordTestSupport
import Testing

/// The client's side of the WebSocket close handshake (RFC 6455 §7.1.1): after its close frame the
/// shard waits for the server to end the TCP connection, so the server always reads the close code.
@Suite("The close handshake")
struct CloseHandshakeTests {
    struct Numbered: Decodable { let n: Int }

    /// Sends far more than a buffer of 2 takes (40 TEST_EVENTs `n` 0..<40, 1 KB each) and waits until
    /// the simulator has written them all: the shard stops reading, the rest waits in the kernel.
    static func overfill(_ harness: Harness) async throws {
        let filler = String(repeating: "x", count: 1000)
        for n in 0..<40 {
            try await harness.simulator.dispatch(eventName: "TEST_EVENT", data: .object([("n", .int(Int64(n))), ("filler", .string(filler))]))
        }
        try await harness.eventually {
            try await harness.simulator.log().filter { $0.kind == .sent && $0.eventName == "TEST_EVENT" }.count == 40
        }
    }

    /// A socket closed with bytes still unread in its receive buffer ends with a TCP reset, and a
    /// server that sees the reset before it has read the close frame never reads it: the session's
    /// end then looks like a dropped connection, not a resumable close.
    @Test("a shard stopped while its consumer stalls, with dispatches unread on its socket, still closes with 4000 as seen by the server", arguments: [GatewayCompression.none, .zlibStream])
    func stopWithUnreadBytes(compression: GatewayCompression) async throws {
        try await Harness.with(compression: compression, shard: { $0.eventBufferCapacity = 2 }) { harness, running in
            try await harness.waitForStatus { $0 == .ready }
            try await Self.overfill(harness)
            harness.shard.stop(keepSession: true)
            try await running.value
            try await harness.eventually {
                try await harness.simulator.log().contains { $0.kind == .closedByClient(code: 4000) || $0.kind == .dropped }
            }
            let ends = try await harness.simulator.log().filter { $0.kind == .closedByClient(code: 4000) || $0.kind == .dropped }
            #expect(ends.map(\.kind) == [.closedByClient(code: 4000)])
            #expect(harness.shard.session != nil, "the session is kept for a resume")
            #expect(try await harness.simulator.violations().isEmpty)
        }
    }

    @Test("a socket the server ends while the consumer stalls hands over what it read once the consumer reads, then the shard resumes: every dispatch once and in order", arguments: [SimulatorFault.dropConnection, .close(code: 4000)])
    func serverEndsWhilePaused(fault: SimulatorFault) async throws {
        try await Harness.with(shard: { $0.eventBufferCapacity = 2 }) { harness, _ in
            try await harness.waitForStatus { $0 == .ready }
            try await Self.overfill(harness)
            // The consumer starts reading only once the socket has ended: first what the ended socket
            // carried, then, once the shard has resumed (its backoff on the manual clock), the rest.
            let (gate, open) = AsyncStream.makeStream(of: Void.self)
            let consumer = Task { () -> (values: [Int], sequences: [Int]) in
                for await _ in gate { break }
                var values: [Int] = []
                var sequences: [Int] = []
                for await dispatch in harness.shard.events {
                    if let sequence = dispatch.sequence { sequences.append(sequence) }
                    if dispatch.name == "TEST_EVENT", let n = try? dispatch.decode(Numbered.self).n { values.append(n) }
                    if values.count == 44 { break }
                }
                return (values, sequences)
            }
            #expect(try await harness.simulator.inject(fault) == 1)
            try await harness.eventually { try await harness.simulator.log().contains {
                    switch $0.kind {
                    case .dropped, .closedByServer: true
                    default: false
                    }
                } }
            open.yield(())
            for n in 40..<44 { try await harness.simulator.dispatch(eventName: "TEST_EVENT", data: .object([("n", .int(Int64(n)))])) }
            // RESUMED is s = 48, after the four replayed dispatches.
            _ = try await harness.advance(by: .milliseconds(100)) { harness.shard.status == .ready && harness.shard.session?.sequence == 48 }
            let (values, sequences) = await consumer.value
            #expect(values == Array(0..<44))
            #expect(sequences == Array(1...47), "every dispatch once and in order")
            #expect(try await harness.handshakeOps() == [2, 6])
        }
    }
}

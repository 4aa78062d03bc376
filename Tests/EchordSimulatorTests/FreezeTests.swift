import EchordModels
import EchordSimulator
import EchordTestSupport
import Testing

/// A freeze behaves like a stalled TCP connection: frames wait and arrive late, or the connection
/// dies; nothing is skipped in the middle of a live stream, and the client is only blamed for what
/// it did with what it actually got.
@Suite("Freeze and thaw, as a network would do them", .timeLimit(.minutes(3 * TestTime.scale)))
struct FreezeTests {
    private static func event(_ n: Int) -> SimulatorJSON { .object([("n", .int(Int64(n)))]) }

    /// Reads payloads until the dispatch named `name`; returns the `s` of every dispatch seen, in order.
    private static func sequences(until name: String, on client: TestGatewayClient) async throws -> [Int] {
        var seen: [Int] = []
        while true {
            let incoming = try await client.nextPayload()
            if incoming.op == 0, let s = incoming.sequence { seen.append(s) }
            if incoming.eventName == name { return seen }
        }
    }

    @Test("a 2 s freeze under traffic, then a thaw: the client gets every s, in order, with no gap")
    func freezeUnderTraffic() async throws {
        try await withSimulator({ $0.traffic.eventsPerSecond = 200 }) { simulator in
            let client = try await TestGatewayClient.connect(port: simulator.port)
            let (sessionID, last, _) = try await client.identifyAndReadGuilds()
            let connection = try #require(try await simulator.connectionID(of: sessionID))
            try await simulator.advanceTime(by: .seconds(1))
            try await simulator.inject(.freeze)
            try await simulator.advanceTime(by: .seconds(2))
            // Produced while frozen, so held: the log has no "sent" entry past what was sent before.
            let produced = try #require(try await simulator.sessions().first?.sequence)
            let sent = try await simulator.sentDispatches(onConnection: connection).map(\.sequence)
            #expect(produced > (sent.max() ?? 0) + 50, "about 260 events for our intents in 2 s, all held (sent up to \(sent.max() ?? 0))")

            try await simulator.inject(.thaw)
            try await simulator.advanceTime(by: .seconds(1))
            try await simulator.setTraffic(eventsPerSecond: 0)
            try await simulator.dispatch(eventName: "ECHORD_END", data: Self.event(0))
            let seen = try await Self.sequences(until: "ECHORD_END", on: client)
            #expect(seen == Array((last + 1)...(last + seen.count)), "s went \(seen.prefix(5))…\(seen.suffix(5))")
            #expect(seen.count > 300)
            // Every dispatch was logged as sent exactly once, in order.
            #expect(try await simulator.sentDispatches(onConnection: connection).map(\.sequence) == Array(1...(last + seen.count)))
            #expect(try await simulator.brokenRules() == [])
        }
    }

    @Test("past the held-bytes limit the TCP connection is dropped; the session resumes with the held dispatches replayed")
    func freezePastTheLimit() async throws {
        try await withSimulator({ $0.freezeHeldBytesLimit = 4000 }) { simulator in
            let client = try await TestGatewayClient.connect(port: simulator.port)
            let (sessionID, last, _) = try await client.identifyAndReadGuilds()
            try await simulator.inject(.freeze)
            let padding = SimulatorJSON.string(String(repeating: "x", count: 900))
            for n in 1...5 {
                try await simulator.dispatch(eventName: "ECHORD_HELD", data: .object([("n", .int(Int64(n))), ("pad", padding)]))
            }
            // The fifth dispatch went past 4000 bytes: the connection ends without a close frame.
            let end = try await client.next()
            #expect(end.isConnectionEnd, "got \(end)")
            #expect(try await simulator.serverCloseCodes() == [])
            try await simulator.waitUntilDetached(sessionID)
            let log = try await simulator.log()
            #expect(!log.contains { $0.kind == .sent && $0.eventName == "ECHORD_HELD" }, "held frames are never logged as sent")
            #expect(log.contains { $0.kind == .dropped })

            let resumed = try await TestGatewayClient.connect(port: simulator.port, path: "/resume")
            try await resumed.helloThenResume(sessionID: sessionID, sequence: last)
            var replayed: [Int] = []
            for _ in 1...5 {
                let event = try await resumed.nextPayload()
                #expect(event.eventName == "ECHORD_HELD")
                replayed.append(try #require(event.sequence))
            }
            #expect(replayed == Array((last + 1)...(last + 5)))
            #expect(try await resumed.nextPayload().eventName == "RESUMED")
            #expect(try await simulator.brokenRules() == [])
        }
    }

    @Test("op 1 held by a freeze: its 2 s deadline starts when it reaches the socket")
    func heartbeatRequestWhileFrozen() async throws {
        try await withSimulator { simulator in
            let client = try await TestGatewayClient.connect(port: simulator.port)
            let (_, last, _) = try await client.identifyAndReadGuilds()
            try await simulator.inject(.freeze)
            try await simulator.inject(.requestHeartbeat)
            try await simulator.advanceTime(by: .seconds(5))
            #expect(try await simulator.brokenRules() == [], "op 1 never reached the client")
            #expect(try await !simulator.log().contains { $0.kind == .sent && $0.opcode == 1 })

            try await simulator.inject(.thaw)
            #expect(try await client.nextPayload().op == 1)
            try await simulator.advanceTime(by: .milliseconds(1900))
            try await client.heartbeat(last)
            #expect(try await client.next().op == 11)
            try await simulator.advanceTime(by: .seconds(3))
            #expect(try await simulator.brokenRules() == [])
        }
    }

    @Test("an op 1 dropped with the connection is never blamed on the client")
    func heartbeatRequestNeverDelivered() async throws {
        try await withSimulator { simulator in
            let client = try await TestGatewayClient.connect(port: simulator.port)
            _ = try await client.identifyAndReadGuilds()
            try await simulator.inject(.freeze)
            try await simulator.inject(.requestHeartbeat)
            try await simulator.inject(.dropConnection)
            #expect(try await client.next().isConnectionEnd)
            try await simulator.advanceTime(by: .seconds(10))
            #expect(try await simulator.brokenRules() == [])
        }
    }

    @Test("a RESUME after an op 9 or a 4009 that never reached the client gets op 9 but is not a violation",
          arguments: [SimulatorFault.invalidSession(resumable: false), .expireSessions])
    func invalidSessionNeverDelivered(fault: SimulatorFault) async throws {
        try await withSimulator { simulator in
            let client = try await TestGatewayClient.connect(port: simulator.port)
            let (sessionID, last, _) = try await client.identifyAndReadGuilds()
            try await simulator.inject(.freeze)
            try await simulator.inject(fault)
            try await simulator.inject(.dropConnection)
            #expect(try await client.next().isConnectionEnd)
            #expect(try await simulator.sessions().isEmpty)

            let resumed = try await TestGatewayClient.connect(port: simulator.port, path: "/resume")
            try await resumed.helloThenResume(sessionID: sessionID, sequence: last)
            let invalid = try await resumed.nextPayload()
            #expect(invalid.op == 9 && invalid.data == .bool(false))
            #expect(try await simulator.brokenRules() == [])
        }
    }

    @Test("op 7 held by a freeze: the 4000 close comes 5 s after op 7 reached the socket")
    func reconnectWhileFrozen() async throws {
        try await withSimulator { simulator in
            let client = try await TestGatewayClient.connect(port: simulator.port)
            _ = try await client.identifyAndReadGuilds()
            try await simulator.inject(.freeze)
            try await simulator.inject(.reconnect)
            try await simulator.advanceTime(by: .seconds(6))
            #expect(try await simulator.serverCloseCodes() == [])
            try await simulator.inject(.thaw)
            #expect(try await client.nextPayload().op == 7)
            try await simulator.advanceTime(by: .seconds(4))
            #expect(try await simulator.serverCloseCodes() == [])
            try await simulator.advanceTime(by: .seconds(1))
            #expect(try await client.nextClose() == 4000)
            #expect(try await simulator.serverCloseCodes() == [4000])
        }
    }

    @Test("a heartbeat sent while frozen sits unread, then counts: no close, no violation")
    func heartbeatsUnreadWhileFrozen() async throws {
        try await withSimulator({ $0.heartbeatIntervalMilliseconds = 10_000 }) { simulator in
            let client = try await TestGatewayClient.connect(port: simulator.port)
            let (_, last, _) = try await client.identifyAndReadGuilds()
            try await simulator.inject(.freeze)
            try await client.heartbeat(last)
            // Far past the deadline (15 s) in simulator time; the heartbeat waits in the kernel.
            try await simulator.advanceTime(by: .seconds(60))
            try await simulator.inject(.thaw)
            #expect(try await client.next().op == 11, "the unread heartbeat is read and ACKed on the thaw")
            try await simulator.advanceTime(by: .seconds(10))
            #expect(try await simulator.serverCloseCodes() == [])
            #expect(try await simulator.brokenRules() == [])
        }
    }

    @Test("a close while frozen is written after the frames held before it")
    func closeWhileFrozen() async throws {
        try await withSimulator { simulator in
            let client = try await TestGatewayClient.connect(port: simulator.port)
            let (_, last, _) = try await client.identifyAndReadGuilds()
            try await simulator.inject(.freeze)
            try await simulator.dispatch(eventName: "ECHORD_BEFORE_CLOSE", data: Self.event(1))
            try await simulator.inject(.close(code: 4000))
            #expect(try await simulator.serverCloseCodes() == [], "the close frame is held too")
            try await simulator.inject(.thaw)
            let held = try await client.nextPayload()
            #expect(held.eventName == "ECHORD_BEFORE_CLOSE" && held.sequence == last + 1)
            #expect(try await client.next().closeCode == 4000)
            #expect(try await simulator.serverCloseCodes() == [4000])
        }
    }
}

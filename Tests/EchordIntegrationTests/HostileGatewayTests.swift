import EchordGateway
import EchordModels
import EchordSimulator
import EchordTestSupport
import Testing

/// A gateway that breaks the rules on purpose, with raw frames from the simulator: the shard's
/// sequence checks, its UTF-8 check and what each one leads to, seen on the wire and in `events`.
@Suite("Shard against a hostile gateway", .timeLimit(.minutes(3 * TestTime.scale)))
struct HostileGatewayTests {
    enum Forgery: String, CaseIterable, Sendable, CustomTestStringConvertible {
        case gap, repeated, backwards
        var testDescription: String { rawValue }

        /// The forged `s`, given the last one the shard received.
        func sequence(after last: Int) -> Int {
            switch self {
            case .gap: last + 2
            case .repeated: last
            case .backwards: last - 2
            }
        }
    }

    static func raw(_ json: String) -> SimulatorFault { .rawFrame(bytes: Array(json.utf8)) }

    static func dispatchTestEvents(_ values: Range<Int>, on simulator: GatewaySimulator) async throws {
        for n in values { try await simulator.dispatch(eventName: "TEST_EVENT", data: .object([("n", .int(Int64(n)))])) }
    }

    static func testValues(_ events: EventCollector) throws -> [Int?] {
        try events.dispatches.filter { $0.name == "TEST_EVENT" }.map { try $0.decode([String: Int].self)["n"] }
    }

    @Test("a gap, a repeat or s going backwards: not delivered; the shard closes with 4000 and resumes from the last contiguous s",
          arguments: Forgery.allCases)
    func brokenSequence(forgery: Forgery) async throws {
        try await Harness.with { harness, _ in
            let events = EventCollector(harness.shard)
            try await harness.waitForStatus { $0 == .ready }
            try await Self.dispatchTestEvents(0..<3, on: harness.simulator)
            try await harness.eventually { events.count(of: "TEST_EVENT") == 3 }
            let last = try #require(events.dispatches.last?.sequence)
            let forged = forgery.sequence(after: last)
            try await harness.simulator.inject(Self.raw(#"{"op":0,"s":\#(forged),"t":"TEST_EVENT","d":{"n":99}}"#))
            // Sent while the shard repairs the stream: the replay brings them.
            try await Self.dispatchTestEvents(3..<5, on: harness.simulator)
            _ = try await harness.advance(by: .milliseconds(100)) { events.count(of: "RESUMED") == 1 }
            try await Self.dispatchTestEvents(5..<7, on: harness.simulator)
            try await harness.eventually { events.count(of: "TEST_EVENT") == 7 }
            #expect(try Self.testValues(events) == Array(0..<7), "the forged event never reaches the user")
            let sequences = events.dispatches.compactMap(\.sequence)
            #expect(sequences == Array(1...sequences.count), "gap or repeat: \(sequences)")
            #expect(try await harness.handshakeOps() == [2, 6], "resumed, never re-identified")
            let resume = try await harness.clientFrames().first { $0.op == 6 }
            #expect(resume?.text.contains(#""seq":\#(last)"#) == true, "RESUME from the last contiguous s: \(resume?.text ?? "-")")
            let closes = try await harness.simulator.log().compactMap { if case .closedByClient(let code) = $0.kind { code } else { nil } }
            #expect(closes == [4000])
        }
    }

    @Test("a dispatch with a negative or null s, or without t, is skipped: nothing delivered, no reconnect")
    func skippedDispatches() async throws {
        try await Harness.with { harness, _ in
            let events = EventCollector(harness.shard)
            try await harness.waitForStatus { $0 == .ready }
            try await Self.dispatchTestEvents(0..<2, on: harness.simulator)
            try await harness.eventually { events.count(of: "TEST_EVENT") == 2 }
            try await harness.simulator.inject(Self.raw(#"{"op":0,"s":-4,"t":"TEST_EVENT","d":{"n":97}}"#))
            try await harness.simulator.inject(Self.raw(#"{"op":0,"s":null,"t":"TEST_EVENT","d":{"n":98}}"#))
            try await harness.simulator.inject(Self.raw(#"{"op":0,"s":null,"d":{"n":99}}"#))
            try await Self.dispatchTestEvents(2..<4, on: harness.simulator)
            try await harness.eventually { events.count(of: "TEST_EVENT") == 4 }
            #expect(try Self.testValues(events) == Array(0..<4))
            let sequences = events.dispatches.compactMap(\.sequence)
            #expect(sequences == Array(1...sequences.count))
            #expect(!events.names.contains(""), "no dispatch without a name")
            #expect(try await harness.connectionPaths() == ["/gateway"], "no reconnect")
            #expect(harness.shard.status == .ready)
        }
    }

    @Test("a text frame with invalid UTF-8: the shard closes with 1007 and resumes; the frame is not delivered")
    func invalidUTF8() async throws {
        try await Harness.with { harness, _ in
            let events = EventCollector(harness.shard)
            try await harness.waitForStatus { $0 == .ready }
            try await Self.dispatchTestEvents(0..<1, on: harness.simulator)
            try await harness.eventually { events.count(of: "TEST_EVENT") == 1 }
            let last = try #require(events.dispatches.last?.sequence)
            let bytes = Array(#"{"op":0,"s":\#(last + 1),"t":"TEST_EVENT","d":{"n":99,"x":""#.utf8) + [0xC3, 0x28] + Array(#""}}"#.utf8)
            try await harness.simulator.inject(.rawFrame(bytes: bytes))
            _ = try await harness.advance(by: .milliseconds(100)) { events.count(of: "RESUMED") == 1 }
            try await Self.dispatchTestEvents(1..<3, on: harness.simulator)
            try await harness.eventually { events.count(of: "TEST_EVENT") == 3 }
            #expect(try Self.testValues(events) == Array(0..<3))
            let closes = try await harness.simulator.log().compactMap { if case .closedByClient(let code) = $0.kind { code } else { nil } }
            #expect(closes == [1007])
            #expect(try await harness.handshakeOps() == [2, 6])
            #expect(try await harness.connectionPaths() == ["/gateway", "/resume"])
        }
    }
}

import EchordGateway
import EchordSimulator
import EchordTestSupport
import Testing

/// The session-save cadence while dispatches flow: the shard's main loop hears of the reads' `s`
/// when a save is due, not once per read.
@Suite("Session saves while events flow", .timeLimit(.minutes(3 * TestTime.scale)))
struct SessionSaveTests {
    @Test("events within sessionSaveInterval are not saved one by one; the first event after it saves the session with its s")
    func savedAtFirstEventAfterInterval() async throws {
        let store = InMemorySessionStore()
        try await Harness.with(
            simulator: { $0.heartbeatIntervalMilliseconds = 600_000 },  // no heartbeat ACK (which also saves) meanwhile
            shard: { $0.sessionSaveInterval = .seconds(1) }, sessionStore: store
        ) { harness, _ in
            let events = EventCollector(harness.shard)
            try await harness.waitForStatus { $0 == .ready }
            func send(_ n: Int) async throws {
                try await harness.simulator.dispatch(eventName: "TEST_EVENT", data: .object([("n", .int(Int64(n)))]))
            }
            for n in 0..<5 { try await send(n) }
            try await harness.eventually { events.count(of: "TEST_EVENT") == 5 }
            let fifth = try #require(events.dispatches.last?.sequence)
            // The shard's session shows the newest s once the read is done; the store still has READY's.
            try await harness.eventually { harness.shard.session?.sequence == fifth }
            let atReady = try await store.session(shardID: 0, shardCount: 1)
            #expect(atReady != nil && atReady!.sequence < fifth)
            // An interval later, the next event's read brings the save, with its s.
            harness.clock.advance(by: .seconds(1))
            try await send(5)
            try await harness.eventually { events.count(of: "TEST_EVENT") == 6 }
            let sixth = try #require(events.dispatches.last?.sequence)
            try await harness.eventually { try await store.session(shardID: 0, shardCount: 1)?.sequence == sixth }
            #expect(try await store.session(shardID: 0, shardCount: 1)?.sessionID == harness.shard.session?.sessionID)
        }
    }
}

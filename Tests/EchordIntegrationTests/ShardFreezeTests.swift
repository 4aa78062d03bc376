import EchordGateway
import EchordModels
import EchordSimulator
import EchordTestSupport
import Testing

/// The real shard through a simulator freeze: a stalled connection delivers late, never skips.
@Suite("Shard through a simulator freeze", .timeLimit(.minutes(3 * TestTime.scale)))
struct ShardFreezeTests {
    @Test("a 2 s freeze under traffic, then a thaw: the shard sees every s in order, on the same connection",
          arguments: ShardIntegrationTests.compressions)
    func freezeThenThaw(compression: GatewayCompression) async throws {
        try await Harness.with(compression: compression, simulator: { $0.traffic.eventsPerSecond = 50 }) { harness, _ in
            let events = EventCollector(harness.shard)
            try await harness.waitForStatus { $0 == .ready }
            try await harness.simulator.advanceTime(by: .seconds(1))
            try await harness.simulator.inject(.freeze)
            try await harness.simulator.advanceTime(by: .seconds(2))
            try await harness.simulator.inject(.thaw)
            try await harness.simulator.advanceTime(by: .seconds(1))
            try await harness.simulator.setTraffic(eventsPerSecond: 0)
            try await harness.simulator.dispatch(eventName: "ECHORD_END", data: .object([]))
            try await harness.eventually { events.count(of: "ECHORD_END") == 1 }
            let sequences = events.dispatches.map(\.sequence)
            #expect(sequences == (1...sequences.count).map { Optional($0) }, "s: \(sequences)")
            #expect(sequences.count > 60, "about 100 events for the shard's intents in 4 s")
            let paths = try await harness.connectionPaths()
            #expect(paths.count == 1, "no reconnect: \(paths)")
            let rules = try await harness.simulator.brokenRules()
            #expect(rules == [])
        }
    }
}

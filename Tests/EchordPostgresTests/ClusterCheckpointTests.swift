import EchordGateway
import EchordPostgres
import EchordSimulator
import EchordTestSupport
import Foundation
import Testing

@Suite("Cluster mode: acknowledged checkpoints", .enabled(if: TestDatabase.available), .serialized, .timeLimit(.minutes(3 * TestTime.scale)))
struct ClusterCheckpointTests {
    @Test("with acknowledged checkpoints, a crash redelivers everything the bot had not acknowledged, though it was delivered")
    func unacknowledgedRedelivered() async throws {
        let harness = try await ClusterHarness.start(shards: 2)
        let acknowledger = ClusterHarness.Acknowledger()
        let first = try harness.startMember(shards: 2, id: "ack-a", acknowledger: acknowledger) {
            $0.checkpoints = .acknowledged
            $0.shard.sessionSaveInterval = .milliseconds(200)
        }
        try await harness.eventually("2 shards ready") { harness.allReady([first], shards: 2) }
        try await harness.simulator.setTraffic(eventsPerSecond: 40)
        try await Task.sleep(for: .seconds(1))
        // The bot stops acknowledging (its handler is stuck); dispatches are still delivered and
        // checkpoints still taken, every 200 ms.
        let acknowledged = acknowledger.stop()
        try await Task.sleep(for: .seconds(1.5))
        let deliveredBeyond = harness.delivered.withLockedValue { lines in
            lines.filter { $0.sequence > (acknowledged[$0.shard] ?? .max) }.count
        }
        #expect(deliveredBeyond > 0, "dispatches were delivered past the acknowledged ones")
        let stored = try await TestDatabase.withCluster(harness.configuration) { try await $0.status().sessions }
        for session in stored {
            #expect(session.sequence <= acknowledged[session.shardID] ?? 0, "shard \(session.shardID): the checkpoint stays at the acknowledged")
        }
        first.task.cancel()
        _ = await first.task.result
        let before = harness.delivered.withLockedValue { $0.count }
        let second = try harness.startMember(shards: 2, id: "ack-b")
        try await harness.eventually("the shards resumed by the second member") { harness.allReady([second], shards: 2) }
        try await harness.simulator.setTraffic(eventsPerSecond: 0)
        let redelivered = harness.delivered.withLockedValue { Array($0[before...]) }
        for (shard, last) in acknowledged {
            #expect(redelivered.contains { $0.shard == shard && $0.sequence == last + 1 }, "shard \(shard): \(last + 1) delivered again")
        }
        #expect(try await harness.opcodes(2).count == 2, "no new IDENTIFY")
        second.member.stop()
        _ = try await second.task.value
        try await harness.simulator.shutdown()
    }
}

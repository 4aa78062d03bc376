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
        let atReady = acknowledger.acknowledged
        try await harness.simulator.setTraffic(eventsPerSecond: 40)
        try await harness.eventually("traffic acknowledged on both shards") {
            let now = acknowledger.acknowledged
            return [0, 1].allSatisfy { shard in (now[shard] ?? 0) >= (atReady[shard] ?? 0) + 2 }
        }
        // The bot stops acknowledging (its handler is stuck); dispatches are still delivered and
        // checkpoints still taken, every 200 ms.
        let acknowledged = acknowledger.stop()
        func delivered(beyond shard: Int) -> Int {
            harness.delivered.withLockedValue { lines in
                lines.filter { $0.shard == shard && $0.sequence > (acknowledged[shard] ?? .max) }.count
            }
        }
        try? await harness.eventually("dispatches delivered past the acknowledged ones on both shards") {
            delivered(beyond: 0) > 0 && delivered(beyond: 1) > 0
        }
        #expect(delivered(beyond: 0) > 0 && delivered(beyond: 1) > 0, "dispatches were delivered past the acknowledged ones")
        // Checkpoints go on while dispatches flow: they catch up with the acknowledged, no further.
        func storedSessions() async throws -> [ClusterStatus.Session] {
            try await TestDatabase.withCluster(harness.configuration) { try await $0.status().sessions }
        }
        try? await harness.eventually("checkpoints at the acknowledged", timeout: .seconds(10)) {
            try await storedSessions().allSatisfy { $0.sequence == acknowledged[$0.shardID] }
        }
        let stored = try await storedSessions()
        for session in stored {
            #expect(session.sequence <= acknowledged[session.shardID] ?? 0, "shard \(session.shardID): the checkpoint stays at the acknowledged")
        }
        first.task.cancel()
        _ = await first.task.result
        let before = harness.delivered.withLockedValue { $0.count }
        let second = try harness.startMember(shards: 2, id: "ack-b")
        try await harness.eventually("the shards resumed by the second member") { harness.allReady([second], shards: 2) }
        try await harness.simulator.setTraffic(eventsPerSecond: 0)
        func redelivered() -> [(shard: Int, sequence: Int, name: String)] {
            harness.delivered.withLockedValue { Array($0[before...]) }
        }
        // The replay follows RESUMED: the shards are ready before the bot has read it.
        try? await harness.eventually("the unacknowledged dispatches delivered again") {
            acknowledged.allSatisfy { shard, last in redelivered().contains { $0.shard == shard && $0.sequence == last + 1 } }
        }
        let redelivered = redelivered()
        for (shard, last) in acknowledged {
            #expect(redelivered.contains { $0.shard == shard && $0.sequence == last + 1 }, "shard \(shard): \(last + 1) delivered again")
        }
        #expect(try await harness.opcodes(2).count == 2, "no new IDENTIFY")
        second.member.stop()
        _ = try await second.task.value
        try await harness.simulator.shutdown()
    }
}

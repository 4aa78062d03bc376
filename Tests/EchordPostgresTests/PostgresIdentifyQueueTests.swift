import EchordGateway
import EchordModels
import EchordSimulator
import EchordPostgres
import EchordTestSupport
import Foundation
import Logging
import NIOConcurrencyHelpers
import Testing

@Suite("PostgresIdentifyQueue across processes on a real PostgreSQL", .enabled(if: TestDatabase.available), .timeLimit(.minutes(3 * TestTime.scale)))
struct PostgresIdentifyQueueTests {
    /// Three cluster handles (three pools, as three processes) on one bot key.
    static func withThreeProcesses<T: Sendable>(
        _ body: ([PostgresCluster]) async throws -> T
    ) async throws -> T {
        let configuration = try TestDatabase.configuration()
        return try await TestDatabase.withCluster(configuration) { a in
            try await TestDatabase.withCluster(configuration) { b in
                try await TestDatabase.withCluster(configuration) { c in try await body([a, b, c]) }
            }
        }
    }

    @Test("12 shards over 3 processes, max_concurrency 2: per bucket, each grant comes an interval after the last report")
    func spacingAcrossProcesses() async throws {
        let interval = Duration.milliseconds(300)
        let clock = ContinuousClock()
        let turns = NIOLockedValueBox<[(shard: Int, granted: ContinuousClock.Instant, reported: ContinuousClock.Instant)]>([])
        try await Self.withThreeProcesses { clusters in
            let queues = clusters.map { $0.identifyQueue(maxConcurrency: 2, interval: interval) }
            try await withThrowingTaskGroup(of: Void.self) { group in
                for shard in 0..<12 {
                    let queue = queues[shard % 3]
                    group.addTask {
                        let token = try await queue.waitForTurn(shardID: shard)
                        let granted = clock.now
                        try await Task.sleep(for: .milliseconds(20))   // the IDENTIFY being written
                        let reported = clock.now
                        await queue.identifySent(token)
                        turns.withLockedValue { $0.append((shard, granted, reported)) }
                    }
                }
                try await group.waitForAll()
            }
        }
        let all = turns.withLockedValue { $0 }
        #expect(all.count == 12)
        for bucket in 0..<2 {
            let ordered = all.filter { $0.shard % 2 == bucket }.sorted { $0.granted < $1.granted }
            #expect(ordered.count == 6)
            for (earlier, later) in zip(ordered, ordered.dropFirst()) {
                // The database set busy_until = now() + interval at the report, which came after
                // `reported`; the next grant came after busy_until.
                #expect(later.granted - earlier.reported >= interval, "bucket \(bucket)")
            }
        }
    }

    @Test("a turn never reported (its process died) stops holding the bucket after the hold limit")
    func abandonedHoldExpires() async throws {
        try await Self.withThreeProcesses { clusters in
            let dead = clusters[0].identifyQueue(maxConcurrency: 1, interval: .milliseconds(100), holdLimit: .seconds(1))
            let live = clusters[1].identifyQueue(maxConcurrency: 1, interval: .milliseconds(100), holdLimit: .seconds(1))
            let started = ContinuousClock.now
            _ = try await dead.waitForTurn(shardID: 0)
            let token = try await live.waitForTurn(shardID: 1)
            // The hold began after `started` and lasts 1 s on the database's clock.
            #expect(ContinuousClock.now - started >= .seconds(1))
            await live.turnAbandoned(token)
        }
    }

    @Test("a turn given back without IDENTIFY frees the bucket for a waiter in another process at once")
    func abandonedTurnWakesOthers() async throws {
        try await Self.withThreeProcesses { clusters in
            let first = clusters[0].identifyQueue(maxConcurrency: 1, interval: .seconds(30), holdLimit: .seconds(60))
            let second = clusters[1].identifyQueue(maxConcurrency: 1, interval: .seconds(30), holdLimit: .seconds(60))
            let token = try await first.waitForTurn(shardID: 0)
            let waiter = Task { try await second.waitForTurn(shardID: 1) }
            try await Task.sleep(for: .milliseconds(200))
            await first.turnAbandoned(token)
            // Without the NOTIFY the waiter would sleep until the 60 s hold expired.
            let granted = try await waiter.value
            await second.turnAbandoned(granted)
        }
    }

    @Test("a cancelled waiter ends with CancellationError")
    func cancelledWaiter() async throws {
        try await Self.withThreeProcesses { clusters in
            let queue = clusters[0].identifyQueue(maxConcurrency: 1, interval: .seconds(60))
            let token = try await queue.waitForTurn(shardID: 0)
            await queue.identifySent(token)
            let waiter = Task { try await queue.waitForTurn(shardID: 1) }
            try await Task.sleep(for: .milliseconds(100))
            waiter.cancel()
            await #expect(throws: CancellationError.self) { _ = try await waiter.value }
        }
    }

    @Test("session starts are counted for the whole bot; when none is left, turns wait for the reset")
    func sessionStartLimit() async throws {
        try await Self.withThreeProcesses { clusters in
            let a = clusters[0].identifyQueue(maxConcurrency: 4, interval: .milliseconds(50))
            let b = clusters[1].identifyQueue(maxConcurrency: 4, interval: .milliseconds(50))
            #expect(try await a.sessionStartsRemaining() == nil)
            let started = ContinuousClock.now
            try await a.recordSessionStartLimit(total: 5, remaining: 2, resetAfter: .seconds(2))
            await a.identifySent(try await a.waitForTurn(shardID: 0))
            await b.identifySent(try await b.waitForTurn(shardID: 1))
            #expect(try await b.sessionStartsRemaining() == 0)
            let token = try await b.waitForTurn(shardID: 2)
            // The reset was set 2 s after the record, which came after `started`.
            #expect(ContinuousClock.now - started >= .seconds(2))
            await b.identifySent(token)
            #expect(try await a.sessionStartsRemaining() == 4)
        }
    }
}

import EchordGateway
import EchordTesting
import NIOConcurrencyHelpers
import Testing

/// LocalIdentifyQueue on a manual clock: a bucket is busy for the interval from the moment its
/// IDENTIFY was reported written, waiters are served in order, and a cancelled wait leaves the queue.
@Suite("LocalIdentifyQueue")
struct IdentifyQueueTests {
    /// Waits (real time, bounded) until `condition` holds; the manual clock does not move.
    func eventually(_ what: String, _ condition: () -> Bool) async throws {
        for _ in 0..<2000 {
            if condition() { return }
            try await Task.sleep(for: .milliseconds(5))
        }
        if condition() { return }
        Issue.record("not reached: \(what)")
        throw CancellationError()
    }

    /// A task waiting for a turn, and whether it has one yet.
    final class Waiter: Sendable {
        let task: Task<IdentifyTurn, Error>
        private let box = NIOLockedValueBox<IdentifyTurn?>(nil)
        var turn: IdentifyTurn? { box.withLockedValue { $0 } }

        init(_ queue: LocalIdentifyQueue, shard: Int) {
            let box = self.box
            task = Task {
                let turn = try await queue.waitForTurn(shardID: shard)
                box.withLockedValue { $0 = turn }
                return turn
            }
        }
    }

    @Test("the bucket's 5.5 s count from the reported write, not from the grant: a slow connect delays the next IDENTIFY")
    func busyFromTheWrite() async throws {
        let clock = ManualClock()
        let queue = LocalIdentifyQueue(maxConcurrency: 1, clock: GatewayClock(clock))
        let first = try await queue.waitForTurn(shardID: 0)
        let second = Waiter(queue, shard: 1)
        try await eventually("the second shard waits") { queue.waitingCount == 1 }
        // The first shard takes 10 s to connect and get HELLO: the bucket stays held meanwhile.
        clock.advance(by: .seconds(10))
        try await Task.sleep(for: .milliseconds(20))
        #expect(second.turn == nil, "granted while the first turn was not reported")
        #expect(clock.sleeperCount == 0, "the second waits for the report, not on the clock")
        await queue.identifySent(first)
        // Now the second sleeps until 5.5 s after the write.
        try await eventually("the second waiter sleeps until 15.5 s") { clock.nextDeadline?.offset == .milliseconds(15_500) }
        #expect(second.turn == nil)
        clock.advance(by: .milliseconds(5499))
        try await Task.sleep(for: .milliseconds(20))
        #expect(second.turn == nil, "granted before 5.5 s had passed since the write")
        clock.advance(by: .milliseconds(1))
        let turn = try await second.task.value
        #expect(turn.shardID == 1)
        #expect(clock.now.offset == .milliseconds(15_500))
    }

    @Test("a turn given back unused frees the bucket at once; waiters of one bucket go in order; buckets are independent")
    func abandonedOrderAndBuckets() async throws {
        let clock = ManualClock()
        let queue = LocalIdentifyQueue(maxConcurrency: 2, clock: GatewayClock(clock))
        let first = try await queue.waitForTurn(shardID: 0)
        // Bucket 1 is free although bucket 0 is held.
        let other = try await queue.waitForTurn(shardID: 1)
        var waiters: [Waiter] = []
        for (index, shard) in [2, 4, 6].enumerated() {
            waiters.append(Waiter(queue, shard: shard))
            // Queued in this order: each waiter is in the queue before the next one starts.
            try await eventually("waiter \(index + 1) queued") { queue.waitingCount == index + 1 }
        }
        await queue.turnAbandoned(first)  // never written: no 5.5 s wait
        let second = try await waiters[0].task.value
        #expect(second.shardID == 2)
        #expect(waiters[1].turn == nil && waiters[2].turn == nil)
        await queue.identifySent(second)
        try await eventually("shard 4 sleeps until 5.5 s") { clock.nextDeadline?.offset == .milliseconds(5500) }
        clock.advance(by: .milliseconds(5500))
        let third = try await waiters[1].task.value
        #expect(third.shardID == 4)
        #expect(waiters[2].turn == nil)
        await queue.identifySent(third)
        try await eventually("shard 6 sleeps until 11 s") { clock.nextDeadline?.offset == .seconds(11) }
        clock.advance(by: .milliseconds(5500))
        #expect(try await waiters[2].task.value.shardID == 6)
        await queue.identifySent(other)
    }

    @Test("a cancelled wait leaves the queue: the next waiter is served, nothing is left sleeping")
    func cancelledWait() async throws {
        let clock = ManualClock()
        let queue = LocalIdentifyQueue(maxConcurrency: 1, clock: GatewayClock(clock))
        let first = try await queue.waitForTurn(shardID: 0)
        await queue.identifySent(first)
        let cancelled = Waiter(queue, shard: 1)
        try await eventually("the waiter sleeps on the clock") { clock.sleeperCount == 1 }
        let next = Waiter(queue, shard: 2)
        try await eventually("both wait") { queue.waitingCount == 2 }
        cancelled.task.cancel()
        await #expect(throws: CancellationError.self) { try await cancelled.task.value }
        // The next waiter is now at the head and sleeps out the same 5.5 s.
        try await eventually("the next waiter sleeps until 5.5 s") {
            clock.sleeperCount == 1 && clock.nextDeadline?.offset == .milliseconds(5500)
        }
        clock.advance(by: .milliseconds(5500))
        #expect(try await next.task.value.shardID == 2)
        // A parked waiter (the bucket held) cancelled: nothing stays behind.
        let parked = Waiter(queue, shard: 3)
        try await eventually("the last waiter is queued") { queue.waitingCount == 1 }
        parked.task.cancel()
        await #expect(throws: CancellationError.self) { try await parked.task.value }
        #expect(clock.sleeperCount == 0 && queue.waitingCount == 0)
    }
}

@_spi(EchordInternals) @testable import EchordGateway
import NIOConcurrencyHelpers
import Testing

@Suite("EventBuffer")
struct EventBufferTests {
    /// A dispatch whose `s` is `sequence` (the buffer carries dispatches; the tests tell them apart by `s`).
    private func dispatch(_ sequence: Int) -> GatewayDispatch {
        let message = Array(#"{"op":0,"s":\#(sequence),"t":"TEST_EVENT","d":{}}"#.utf8)
        // The message is well-formed: scanning it cannot fail.
        return GatewayDispatch(shardID: 0, envelope: try! GatewayEnvelope(scanning: message))
    }

    @Test("a full buffer makes the producer wait until the consumer takes one; order is kept")
    func backpressure() async {
        let buffer = EventBuffer(capacity: 2)
        #expect(await buffer.push(dispatch(1)))
        #expect(await buffer.push(dispatch(2)))
        let producer = Task { await buffer.push(dispatch(3)) }
        // The third push cannot complete while the buffer is full.
        try? await Task.sleep(for: .milliseconds(50))
        #expect(buffer.count == 2)
        #expect(await buffer.next()?.sequence == 1)
        #expect(await producer.value)
        #expect(await buffer.next()?.sequence == 2)
        #expect(await buffer.next()?.sequence == 3)
    }

    @Test("finish delivers what is buffered, then nil, and releases waiting producers")
    func finish() async {
        let buffer = EventBuffer(capacity: 1)
        await buffer.push(dispatch(1))
        let producer = Task { await buffer.push(dispatch(2)) }
        try? await Task.sleep(for: .milliseconds(20))
        buffer.finish()
        #expect(await producer.value == false)
        #expect(await buffer.next()?.sequence == 1)
        #expect(await buffer.next() == nil)
    }

    /// Waits (on the buffer's state, generously bounded) until a consumer is suspended in `next()`.
    private func waitForWaitingConsumer(_ buffer: EventBuffer) async throws {
        for _ in 0..<20_000 where !buffer.hasWaitingConsumer { try await Task.sleep(for: .milliseconds(1)) }
        try #require(buffer.hasWaitingConsumer)
    }

    @Test("events offered with a deferred wake reach a waiting consumer only when woken, all of them, in order")
    func deferredWake() async throws {
        let buffer = EventBuffer(capacity: 8)
        let consumer = Task {
            var received: [Int] = []
            for _ in 0..<4 { if let value = await buffer.next()?.sequence { received.append(value) } }
            return received
        }
        try await waitForWaitingConsumer(buffer)
        #expect(buffer.offer(dispatch(1), deferringWake: true) {} == .accepted)
        #expect(buffer.offer(dispatch(2), deferringWake: true) {} == .accepted)
        // One read's events are buffered; the consumer still waits for the read's end.
        #expect(buffer.hasWaitingConsumer)
        #expect(buffer.count == 2)
        buffer.wakeConsumer()
        #expect(buffer.offer(dispatch(3), deferringWake: true) {} == .accepted)
        buffer.wakeConsumer()
        #expect(buffer.offer(dispatch(4)) {} == .accepted)
        #expect(await consumer.value == [1, 2, 3, 4])
    }

    @Test("finish hands a waiting consumer the events offered with a deferred wake before nil")
    func finishAfterDeferredWake() async throws {
        let buffer = EventBuffer(capacity: 4)
        let consumer = Task { (await buffer.next()?.sequence, await buffer.next()?.sequence, await buffer.next()?.sequence) }
        try await waitForWaitingConsumer(buffer)
        #expect(buffer.offer(dispatch(1), deferringWake: true) {} == .accepted)
        #expect(buffer.offer(dispatch(2), deferringWake: true) {} == .accepted)
        buffer.finish()
        let (first, second, end) = await consumer.value
        #expect(first == 1)
        #expect(second == 2)
        #expect(end == nil)
    }

    @Test("an event offered with an immediate wake, behind ones whose wake was deferred, reaches the consumer after them")
    func orderKeptAcrossWakeModes() async throws {
        let buffer = EventBuffer(capacity: 4)
        let consumer = Task { (await buffer.next()?.sequence, await buffer.next()?.sequence) }
        try await waitForWaitingConsumer(buffer)
        #expect(buffer.offer(dispatch(1), deferringWake: true) {} == .accepted)
        #expect(buffer.offer(dispatch(2)) {} == .accepted)
        let (first, second) = await consumer.value
        #expect(first == 1)
        #expect(second == 2)
    }

    @Test("the consumer takes a batch of at most half the capacity; the batch's events not handed out and the buffered ones never pass the capacity; order is kept")
    func batches() async throws {
        let buffer = EventBuffer(capacity: 4)
        for sequence in 1...4 { #expect(buffer.offer(dispatch(sequence)) {} == .accepted) }
        let roomForFive = LockedCount()
        #expect(buffer.offer(dispatch(5)) { roomForFive.increment() } == .full)
        var batch: [GatewayDispatch] = []
        #expect(buffer.takeBatch(into: &batch))
        #expect(batch.map(\.sequence) == [1, 2])
        // The consumer hands out 1 at once: 2 (in its hands) and 3, 4 (buffered) leave room for one.
        #expect(roomForFive.value == 1)
        #expect(buffer.offer(dispatch(5)) {} == .accepted)
        let roomForSix = LockedCount()
        #expect(buffer.offer(dispatch(6)) { roomForSix.increment() } == .full)
        // Handing out 2, the batch's last event, gives its room back: the producer is told once.
        buffer.returnBatch()
        #expect(roomForSix.value == 1)
        #expect(buffer.offer(dispatch(6)) {} == .accepted)
        #expect(buffer.offer(dispatch(7)) {} == .full)
        buffer.returnBatch()  // nothing lent: no room opens
        #expect(buffer.offer(dispatch(7)) {} == .full)
        batch.removeAll()
        #expect(buffer.takeBatch(into: &batch))
        #expect(batch.map(\.sequence) == [3, 4])
        #expect(buffer.offer(dispatch(7)) {} == .accepted)
        #expect(buffer.offer(dispatch(8)) {} == .full)
        buffer.returnBatch()
        batch.removeAll()
        #expect(buffer.takeBatch(into: &batch))
        #expect(batch.map(\.sequence) == [5, 6])
        buffer.returnBatch()
        batch.removeAll()
        #expect(buffer.takeBatch(into: &batch))
        #expect(batch.map(\.sequence) == [7])  // the only one buffered: a batch of one lends nothing
        #expect(buffer.offer(dispatch(8)) {} == .accepted)
        batch.removeAll()
        #expect(buffer.takeBatch(into: &batch))
        #expect(batch.map(\.sequence) == [8])
        batch.removeAll()
        #expect(!buffer.takeBatch(into: &batch))
        #expect(batch.isEmpty)
    }

    @Test("a consumer that stops after a whole batch leaves the whole capacity to the producers")
    func stallAfterBatch() async throws {
        let buffer = EventBuffer(capacity: 4)
        for sequence in 1...2 { #expect(buffer.offer(dispatch(sequence)) {} == .accepted) }
        var iterator = ShardEvents(buffer: buffer).makeAsyncIterator()
        #expect(await iterator.next()?.sequence == 1)  // takes the batch [1, 2]
        #expect(await iterator.next()?.sequence == 2)  // and hands out its last: nothing is lent
        for sequence in 3...6 { #expect(buffer.offer(dispatch(sequence)) {} == .accepted, "event \(sequence)") }
        #expect(buffer.offer(dispatch(7)) {} == .full)
        for sequence in 3...6 { #expect(await iterator.next()?.sequence == sequence) }
    }

    @Test("an iterator given up in the middle of a batch leaves the rest to the next iterator, in order, within the capacity")
    func iteratorGivenUp() async throws {
        let buffer = EventBuffer(capacity: 8)
        for sequence in 1...4 { #expect(buffer.offer(dispatch(sequence)) {} == .accepted) }
        do {
            var iterator = ShardEvents(buffer: buffer).makeAsyncIterator()
            #expect(await iterator.next()?.sequence == 1)  // takes the batch [1, 2, 3, 4]
            #expect(await iterator.next()?.sequence == 2)
            #expect(buffer.count == 0)
        }  // a `for await` loop left with `break`
        #expect(buffer.count == 2)
        for sequence in 5...10 { #expect(buffer.offer(dispatch(sequence)) {} == .accepted, "event \(sequence)") }
        #expect(buffer.offer(dispatch(11)) {} == .full)
        var next = ShardEvents(buffer: buffer).makeAsyncIterator()
        for sequence in 3...10 { #expect(await next.next()?.sequence == sequence) }
    }

    @Test("events given back while a newer iterator waits reach it")
    func givenBackToWaitingIterator() async throws {
        let buffer = EventBuffer(capacity: 8)
        for sequence in 1...3 { #expect(buffer.offer(dispatch(sequence)) {} == .accepted) }
        var first: ShardEvents.AsyncIterator? = ShardEvents(buffer: buffer).makeAsyncIterator()
        #expect(await first?.next()?.sequence == 1)  // takes the batch [1, 2, 3]
        let second = Task {
            var iterator = ShardEvents(buffer: buffer).makeAsyncIterator()
            return [await iterator.next()?.sequence, await iterator.next()?.sequence]
        }
        try await waitForWaitingConsumer(buffer)
        first = nil
        #expect(await second.value == [2, 3])
    }

    @Test("a shard's event stream hands out every event once and in order, across batches, waits and a finish")
    func streamAcrossBatches() async throws {
        let buffer = EventBuffer(capacity: 8)
        let consumer = Task {
            var received: [Int] = []
            for await dispatch in ShardEvents(buffer: buffer) { received.append(dispatch.sequence ?? -1) }
            return received
        }
        var sequence = 0
        for burst in [1, 7, 3, 8, 2] {
            for _ in 0..<burst {
                sequence += 1
                await buffer.push(dispatch(sequence))
            }
            if burst.isMultiple(of: 2) { try await waitForWaitingConsumer(buffer) }
        }
        buffer.finish()
        #expect(await consumer.value == Array(1...sequence))
    }
}

/// A count the buffer's room callback can bump from any thread.
private final class LockedCount: Sendable {
    private let count = NIOLockedValueBox(0)
    func increment() { count.withLockedValue { $0 += 1 } }
    var value: Int { count.withLockedValue { $0 } }
}

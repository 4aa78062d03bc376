@testable import EchordGateway
import Testing

@Suite("EventBuffer")
struct EventBufferTests {
    @Test("a full buffer makes the producer wait until the consumer takes one; order is kept")
    func backpressure() async {
        let buffer = EventBuffer<Int>(capacity: 2)
        #expect(await buffer.push(1))
        #expect(await buffer.push(2))
        let producer = Task { await buffer.push(3) }
        // The third push cannot complete while the buffer is full.
        try? await Task.sleep(for: .milliseconds(50))
        #expect(buffer.count == 2)
        #expect(await buffer.next() == 1)
        #expect(await producer.value)
        #expect(await buffer.next() == 2)
        #expect(await buffer.next() == 3)
    }

    @Test("finish delivers what is buffered, then nil, and releases waiting producers")
    func finish() async {
        let buffer = EventBuffer<Int>(capacity: 1)
        await buffer.push(1)
        let producer = Task { await buffer.push(2) }
        try? await Task.sleep(for: .milliseconds(20))
        buffer.finish()
        #expect(await producer.value == false)
        #expect(await buffer.next() == 1)
        #expect(await buffer.next() == nil)
    }

    /// Waits (on the buffer's state, generously bounded) until a consumer is suspended in `next()`.
    private func waitForWaitingConsumer(_ buffer: EventBuffer<Int>) async throws {
        for _ in 0..<20_000 where !buffer.hasWaitingConsumer { try await Task.sleep(for: .milliseconds(1)) }
        try #require(buffer.hasWaitingConsumer)
    }

    @Test("events offered with a deferred wake reach a waiting consumer only when woken, all of them, in order")
    func deferredWake() async throws {
        let buffer = EventBuffer<Int>(capacity: 8)
        let consumer = Task {
            var received: [Int] = []
            for _ in 0..<4 { if let value = await buffer.next() { received.append(value) } }
            return received
        }
        try await waitForWaitingConsumer(buffer)
        #expect(buffer.offer(1, deferringWake: true) {} == .accepted)
        #expect(buffer.offer(2, deferringWake: true) {} == .accepted)
        // One read's events are buffered; the consumer still waits for the read's end.
        #expect(buffer.hasWaitingConsumer)
        #expect(buffer.count == 2)
        buffer.wakeConsumer()
        #expect(buffer.offer(3, deferringWake: true) {} == .accepted)
        buffer.wakeConsumer()
        #expect(buffer.offer(4) {} == .accepted)
        #expect(await consumer.value == [1, 2, 3, 4])
    }

    @Test("finish hands a waiting consumer the events offered with a deferred wake before nil")
    func finishAfterDeferredWake() async throws {
        let buffer = EventBuffer<Int>(capacity: 4)
        let consumer = Task { (await buffer.next(), await buffer.next(), await buffer.next()) }
        try await waitForWaitingConsumer(buffer)
        #expect(buffer.offer(1, deferringWake: true) {} == .accepted)
        #expect(buffer.offer(2, deferringWake: true) {} == .accepted)
        buffer.finish()
        let (first, second, end) = await consumer.value
        #expect(first == 1)
        #expect(second == 2)
        #expect(end == nil)
    }

    @Test("an event offered with an immediate wake, behind ones whose wake was deferred, reaches the consumer after them")
    func orderKeptAcrossWakeModes() async throws {
        let buffer = EventBuffer<Int>(capacity: 4)
        let consumer = Task { (await buffer.next(), await buffer.next()) }
        try await waitForWaitingConsumer(buffer)
        #expect(buffer.offer(1, deferringWake: true) {} == .accepted)
        #expect(buffer.offer(2) {} == .accepted)
        let (first, second) = await consumer.value
        #expect(first == 1)
        #expect(second == 2)
    }
}

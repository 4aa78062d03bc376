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
}

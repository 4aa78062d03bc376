/// A shard's dispatches, in order (see ``Shard/events``).
public struct ShardEvents: AsyncSequence, Sendable {
    public typealias Element = GatewayDispatch
    let buffer: EventBuffer

    public struct AsyncIterator: AsyncIteratorProtocol {
        let buffer: EventBuffer
        public mutating func next() async -> GatewayDispatch? {
            if let buffered = buffer.takeBuffered() { return buffered }
            return await buffer.next()
        }
    }

    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(buffer: buffer) }
}

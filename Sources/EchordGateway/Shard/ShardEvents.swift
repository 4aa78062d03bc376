/// A shard's dispatches, in order (see ``Shard/events``).
public struct ShardEvents: AsyncSequence, Sendable {
    public typealias Element = GatewayDispatch
    let buffer: EventBuffer

    /// Takes the buffered events a batch at a time (one lock per batch, not per event) and hands
    /// them out in order.
    public struct AsyncIterator: AsyncIteratorProtocol {
        let buffer: EventBuffer
        /// Events taken from the buffer and not handed out yet, from `position` on.
        @usableFromInline var batch: [GatewayDispatch] = []
        @usableFromInline var position = 0

        init(buffer: EventBuffer) { self.buffer = buffer }

        /// The next event: from the batch in hand (inlined into the caller's loop: no call per
        /// event), else the batch's last event, a new batch or, when none is buffered, one once it
        /// arrives.
        @inlinable
        public mutating func next() async -> GatewayDispatch? {
            if position + 1 < batch.count {
                defer { position += 1 }
                return batch[position]
            }
            return await nextBatch()
        }

        /// Hands out the batch's last event (giving its room back to the shards), or takes the next
        /// batch and hands out its first event; waits when none is buffered.
        @usableFromInline
        mutating func nextBatch() async -> GatewayDispatch? {
            if position < batch.count {  // the last event of a batch of two or more
                position += 1
                buffer.returnBatch()
                return batch[position - 1]
            }
            // The batch is handed out: let its events go (they hold whole messages), keep the storage.
            batch.removeAll(keepingCapacity: batch.count <= 64)
            position = 0
            if buffer.takeBatch(into: &batch) {
                position = 1
                return batch[0]
            }
            return await buffer.next()
        }
    }

    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(buffer: buffer) }
}

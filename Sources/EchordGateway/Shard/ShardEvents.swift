/// A shard's dispatches, in order (see ``Shard/events``).
public struct ShardEvents: AsyncSequence, Sendable {
    public typealias Element = GatewayDispatch
    let buffer: EventBuffer

    /// Takes the buffered events a batch at a time (one lock per batch, not per event) and hands
    /// them out in order. An iterator given up in the middle of a batch (a `for await` loop left
    /// with `break`) puts the events it has not handed out back in front of the buffer: the next
    /// iterator starts with them.
    public struct AsyncIterator: AsyncIteratorProtocol {
        @usableFromInline let batch: ConsumerBatch

        init(buffer: EventBuffer) { batch = ConsumerBatch(buffer: buffer) }

        /// The next event: from the batch in hand (inlined into the caller's loop: no call per
        /// event), else the batch's last event, a new batch or, when none is buffered, one once it
        /// arrives.
        @inlinable
        public mutating func next() async -> GatewayDispatch? {
            let batch = self.batch
            if batch.position + 1 < batch.items.count {
                defer { batch.position += 1 }
                return batch.items[batch.position]
            }
            return await batch.next()
        }
    }

    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(buffer: buffer) }
}

/// The events an iterator took from its buffer in one step, and how many it has handed out: a class,
/// so that an iterator given up mid-batch gives the rest back (`deinit`).
///
/// Not `Sendable`: it belongs to one iterator, which one task uses at a time.
@usableFromInline
final class ConsumerBatch {
    /// Events taken from the buffer; those from `position` on are not handed out yet.
    // Unchecked: only the iterator that owns this batch touches it, from one task at a time (the
    // class is not Sendable), so no access can overlap another; the checks cost a call per event.
    @usableFromInline @exclusivity(unchecked) var items: [GatewayDispatch] = []
    @usableFromInline @exclusivity(unchecked) var position = 0
    private let buffer: EventBuffer

    init(buffer: EventBuffer) { self.buffer = buffer }

    deinit {
        if position < items.count { buffer.putBack(items[position...]) }
    }

    /// Hands out the batch's last event (giving its room back to the shards), or takes the next
    /// batch and hands out its first event; waits when none is buffered.
    @usableFromInline
    func next() async -> GatewayDispatch? {
        if position < items.count {  // the last event of a batch of two or more
            position += 1
            buffer.returnBatch()
            return items[position - 1]
        }
        // The batch is handed out: let its events go (they hold whole messages), keep the storage.
        items.removeAll(keepingCapacity: items.count <= 64)
        position = 0
        if buffer.takeBatch(into: &items) {
            position = 1
            return items[0]
        }
        return await buffer.next()
    }
}

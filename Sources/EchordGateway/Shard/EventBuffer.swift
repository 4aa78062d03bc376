import NIOConcurrencyHelpers

/// A bounded buffer between a shard's reader and the code that consumes its events.
///
/// When it is full the reader waits: the shard stops reading its socket until the consumer catches
/// up. Heartbeats go on meanwhile (they do not pass through here). A consumer slow enough that the
/// heartbeat ACK cannot be read in time makes the shard treat the connection as a zombie, close it
/// and RESUME, so the gateway replays what was not read: events are delayed, never dropped.
///
/// Not generic: it only ever carries dispatches, and its nested types (the state, the steps, the
/// producers) then have static metadata, where a generic buffer looks theirs up at run time on
/// every offer.
final class EventBuffer: Sendable {
    typealias Element = GatewayDispatch

    private struct State {
        var items: [Element] = []
        var head = 0
        var finished = false
        /// Events of the consumer's batch (``takeBatch(into:)``) after the first, until it hands out
        /// the last (``returnBatch()``).
        var lent = 0
        var consumer: UnsafeContinuation<Element?, Never>?
        var producers: [Producer] = []
        var count: Int { items.count - head }
    }

    /// A producer waiting for room: a task in ``push(_:)``, or a channel handler's callback
    /// (``offer(_:deferringWake:onRoom:)``).
    private enum Producer {
        case task(UnsafeContinuation<Void, Never>)
        case callback(@Sendable () -> Void)

        func wake() {
            switch self {
            case .task(let continuation): continuation.resume()
            case .callback(let body): body()
            }
        }
    }

    /// What ``offer(_:deferringWake:onRoom:)`` did with an event.
    enum Offer: Equatable {
        /// Buffered or handed to the waiting consumer.
        case accepted
        /// The buffer is full: the event was not taken; `onRoom` runs once there is room.
        case full
        /// The buffer was finished: the event is dropped (nobody will read it).
        case finished
    }

    private enum PushStep { case delivered(UnsafeContinuation<Element?, Never>?), wait, finished }
    private enum NextStep { case item(Element, Producer?), end, wait }

    let capacity: Int
    private let state = NIOLockedValueBox(State())

    init(capacity: Int) { self.capacity = max(1, capacity) }

    /// The number of buffered events.
    var count: Int { state.withLockedValue { $0.count } }

    /// Whether a consumer is suspended in ``next()``, waiting for an event.
    var hasWaitingConsumer: Bool { state.withLockedValue { $0.consumer != nil } }

    /// Adds an event, waiting while the buffer is full. Returns false when the buffer was finished
    /// (the event is dropped: nobody will read it).
    @discardableResult
    func push(_ element: Element) async -> Bool {
        while true {
            switch deliver(element, waitingWhenFull: nil) {
            case .finished: return false
            case .accepted: return true
            case .full:
                await withUnsafeContinuation { (continuation: UnsafeContinuation<Void, Never>) in
                    let resumeNow = state.withLockedValue { state -> Bool in
                        if state.finished || state.count + state.lent < capacity { return true }
                        state.producers.append(.task(continuation))
                        return false
                    }
                    if resumeNow { continuation.resume() }
                }
            }
        }
    }

    /// Adds an event without waiting: when the buffer is full the event is not taken and `onRoom`
    /// runs (once, on the consumer's thread, or at ``finish()``) when the consumer has made room; the
    /// caller offers the event again then. This is how a channel handler stops reading its socket
    /// while the consumer is behind, without a task waiting.
    ///
    /// With `deferringWake`, a waiting consumer is not woken for this event: the caller calls
    /// ``wakeConsumer()`` once it has offered a read's worth, so a burst costs the consumer one
    /// wake-up (one thread hand-over), not one per event.
    func offer(_ element: Element, deferringWake: Bool = false, onRoom: @escaping @Sendable () -> Void) -> Offer {
        deliver(element, deferringWake: deferringWake, waitingWhenFull: Producer.callback(onRoom))
    }

    /// The one delivery step of ``push(_:)`` and ``offer(_:deferringWake:onRoom:)``: hands `element`
    /// to the waiting consumer (unless `deferringWake`), or buffers it while there is room; when the
    /// buffer is full, registers `producer` (if any) to be woken once there is room, under the same lock
    /// (it is made only then: an event that fits costs no reference to the producer).
    private func deliver(
        _ element: Element, deferringWake: Bool = false, waitingWhenFull producer: @autoclosure () -> Producer?
    ) -> Offer {
        let step: PushStep = state.withLockedValue { state in
            if state.finished { return .finished }
            if !deferringWake, state.count == 0, let consumer = state.consumer {
                state.consumer = nil
                return .delivered(consumer)
            }
            if state.count + state.lent < capacity {
                state.items.append(element)
                return .delivered(nil)
            }
            if let producer = producer() { state.producers.append(producer) }
            return .wait
        }
        switch step {
        case .finished: return .finished
        case .delivered(let consumer):
            if let consumer {
                consumer.resume(returning: element)
            } else if !deferringWake {
                wakeConsumer()  // a consumer waiting behind events offered with a deferred wake
            }
            return .accepted
        case .wait: return .full
        }
    }

    /// Hands a waiting consumer the oldest buffered event (offered with `deferringWake`).
    func wakeConsumer() {
        let woken: (UnsafeContinuation<Element?, Never>, Element, Producer?)? = state.withLockedValue { state in
            guard let consumer = state.consumer, state.count > 0 else { return nil }
            state.consumer = nil
            let (item, producer) = Self.take(&state)
            return (consumer, item, producer)
        }
        guard let (consumer, item, producer) = woken else { return }
        consumer.resume(returning: item)
        producer?.wake()
    }

    /// Takes the oldest event (there is one) and the producer to wake for the room it leaves.
    private static func take(_ state: inout State) -> (Element, Producer?) {
        let item = state.items[state.head]
        state.head += 1
        compact(&state)
        let producer = state.producers.isEmpty ? nil : state.producers.removeFirst()
        return (item, producer)
    }

    /// Lets taken events go: all of them once drained, the taken front once it is most of the array.
    private static func compact(_ state: inout State) {
        if state.head == state.items.count {
            // Drained: release the delivered events (they hold whole messages).
            state.items.removeAll(keepingCapacity: state.items.count <= 64)
            state.head = 0
        } else if state.head > 64 && state.head * 2 > state.items.count {
            state.items.removeFirst(state.head)
            state.head = 0
        }
    }

    /// Ends the stream: the consumer gets what is buffered, then nil; waiting producers return.
    func finish() {
        wakeConsumer()
        let (consumer, producers) = state.withLockedValue { state in
            state.finished = true
            let consumer = state.count == 0 ? state.consumer : nil
            if consumer != nil { state.consumer = nil }
            defer { state.producers = [] }
            return (consumer, state.producers)
        }
        consumer?.resume(returning: nil)
        producers.forEach { $0.wake() }
    }

    /// Moves the oldest buffered events, at most half the capacity, into `batch` (empty when called)
    /// in one step; false when none is buffered. The consumer's fast path: most events are buffered
    /// when it asks (it is woken once per read), and it takes a read's worth under one lock, without
    /// an `async` call.
    ///
    /// The consumer hands the first event out at once; the others count against the capacity until
    /// it hands out the last one and calls ``returnBatch()``. Buffered and batched events together
    /// never pass the capacity, and the other half stays free for the producers while the consumer
    /// works through a batch.
    func takeBatch(into batch: inout [Element]) -> Bool {
        let (taken, producers): (Bool, [Producer]) = state.withLockedValue { state in
            let count = state.count
            guard count > 0 else { return (false, []) }
            let size = min(count, max(1, capacity / 2))
            if state.head == 0 && size == state.items.count {
                swap(&state.items, &batch)  // the consumer's emptied array becomes the buffer's
            } else {
                batch.append(contentsOf: state.items[state.head..<(state.head + size)])
                state.head += size
                Self.compact(&state)
            }
            state.lent = size - 1
            return (true, producersToWake(&state))
        }
        producers.forEach { $0.wake() }
        return taken
    }

    /// The consumer has handed out the last event of its batch: the batch's room is free again, and
    /// producers waiting for room are woken (a consumer that stops after a batch leaves the whole
    /// capacity to the producers).
    func returnBatch() {
        let producers: [Producer] = state.withLockedValue { state in
            state.lent = 0
            return producersToWake(&state)
        }
        producers.forEach { $0.wake() }
    }

    /// Events of a batch that its iterator did not hand out (it was given up): back in front of
    /// the buffer, in order, for the next iterator. They were counted against the capacity as the
    /// batch's (``takeBatch(into:)``), so they fit.
    func putBack(_ events: ArraySlice<Element>) {
        let producers: [Producer] = state.withLockedValue { state in
            if state.head >= events.count {
                state.head -= events.count
                state.items.replaceSubrange(state.head..<(state.head + events.count), with: events)
            } else {
                state.items.replaceSubrange(0..<state.head, with: events)
                state.head = 0
            }
            state.lent = 0
            return producersToWake(&state)
        }
        producers.forEach { $0.wake() }
        wakeConsumer()  // an iterator made before this one was given up may be waiting
    }

    /// The waiting producers, removed, when there is room for them; else none.
    private func producersToWake(_ state: inout State) -> [Producer] {
        guard !state.producers.isEmpty, state.count + state.lent < capacity else { return [] }
        defer { state.producers.removeAll() }
        return state.producers
    }

    /// The next event, or nil once finished and drained (or when the consumer's task is cancelled).
    ///
    /// - Precondition: no other task is waiting in `next()` (one consumer at a time).
    func next() async -> Element? {
        // An event already buffered is taken without suspending.
        let buffered: (Element, Producer?)? = state.withLockedValue { state in
            state.count > 0 ? Self.take(&state) : nil
        }
        if let (item, producer) = buffered {
            producer?.wake()
            return item
        }
        return await withTaskCancellationHandler {
            await withUnsafeContinuation { (continuation: UnsafeContinuation<Element?, Never>) in
                let step: NextStep = state.withLockedValue { state in
                    if state.count > 0 {
                        let (item, producer) = Self.take(&state)
                        return .item(item, producer)
                    }
                    if state.finished || Task.isCancelled { return .end }
                    // Two tasks waiting at once would steal each other's events and leave one
                    // hanging forever: like NIO's async sequences, that is a programming error.
                    precondition(
                        state.consumer == nil,
                        "A shard's events (or a ShardManager's) are being iterated by two tasks at once; iterate them from one task")
                    state.consumer = continuation
                    return .wait
                }
                switch step {
                case .item(let item, let producer):
                    continuation.resume(returning: item)
                    producer?.wake()
                case .end: continuation.resume(returning: nil)
                case .wait: break
                }
            }
        } onCancel: {
            let consumer = state.withLockedValue { state -> UnsafeContinuation<Element?, Never>? in
                defer { state.consumer = nil }
                return state.consumer
            }
            consumer?.resume(returning: nil)
        }
    }
}

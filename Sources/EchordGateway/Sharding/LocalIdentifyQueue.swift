import NIOConcurrencyHelpers

/// An identify queue for the shards of one process: per bucket, one IDENTIFY per ``interval``,
/// counted from the moment each IDENTIFY was written.
///
/// Waiters of one bucket are served in the order they called ``waitForTurn(shardID:)``. While a
/// turn is granted and not yet reported, the next waiter of its bucket waits; once it is reported
/// sent, the next waits until ``interval`` after the report. Waits sleep on the injected clock and
/// end with `CancellationError` when their task is cancelled.
public final class LocalIdentifyQueue: IdentifyQueue {
    /// `session_start_limit.max_concurrency`.
    public let maxConcurrency: Int
    /// How long a bucket stays busy after an IDENTIFY is written (Discord: 5 s).
    public let interval: Duration
    private let clock: GatewayClock
    private let state = NIOLockedValueBox(State())

    private struct Bucket {
        /// When the bucket may grant again (interval after the last IDENTIFY written).
        var busyUntil: Duration?
        /// The turn granted and not yet reported.
        var holder: UInt64?
        /// Waiter ids in arrival order.
        var queue: [UInt64] = []
        /// Waiters parked until the bucket changes (a report, or the head of the queue leaving).
        var parked: [UInt64: CheckedContinuation<Void, Error>] = [:]
    }

    private struct State {
        var buckets: [Int: Bucket] = [:]
        var nextID: UInt64 = 0
    }

    private enum Step {
        case granted
        case sleep(until: Duration)
        case park
    }

    /// - Parameters:
    ///   - maxConcurrency: the bucket count from `GET /gateway/bot`.
    ///   - interval: the busy time per IDENTIFY, from the moment it was written: Discord's 5 s plus
    ///     0.5 s, since Discord times the IDENTIFY when it arrives and arrival times jitter.
    ///   - clock: the clock to wait on.
    public init(maxConcurrency: Int = 1, interval: Duration = .milliseconds(5500), clock: GatewayClock = .continuous) {
        self.maxConcurrency = max(1, maxConcurrency)
        self.interval = interval
        self.clock = clock
    }

    /// The shards waiting for a turn, over every bucket (granted turns not counted).
    public var waitingCount: Int { state.withLockedValue { $0.buckets.values.reduce(0) { $0 + $1.queue.count } } }

    /// Waits until bucket `shardID % maxConcurrency` is free and every earlier waiter of the bucket
    /// was served, then holds the bucket until the turn is reported.
    public func waitForTurn(shardID: Int) async throws -> IdentifyTurn {
        let bucket = bucketIndex(shardID)
        let id = state.withLockedValue { state -> UInt64 in
            state.nextID += 1
            state.buckets[bucket, default: Bucket()].queue.append(state.nextID)
            return state.nextID
        }
        do {
            while true {
                switch step(id, bucket: bucket) {
                case .granted:
                    return IdentifyTurn(shardID: shardID, id: id)
                case .sleep(let until):
                    try await clock.sleep(until: until)
                case .park:
                    try await park(id, bucket: bucket)
                }
            }
        } catch {
            let next = state.withLockedValue { state -> CheckedContinuation<Void, Error>? in
                state.buckets[bucket]?.queue.removeAll { $0 == id }
                state.buckets[bucket]?.parked[id] = nil
                return Self.wakeHead(&state, bucket: bucket)
            }
            next?.resume()
            throw error
        }
    }

    /// Marks the bucket busy for ``interval`` from now and lets its next waiter go on.
    public func identifySent(_ turn: IdentifyTurn) async {
        let bucket = bucketIndex(turn.shardID)
        let next = state.withLockedValue { state -> CheckedContinuation<Void, Error>? in
            let until = clock.now + interval
            state.buckets[bucket, default: Bucket()].busyUntil = max(state.buckets[bucket]?.busyUntil ?? until, until)
            guard state.buckets[bucket]?.holder == turn.id else { return nil }
            state.buckets[bucket]?.holder = nil
            return Self.wakeHead(&state, bucket: bucket)
        }
        next?.resume()
    }

    /// Frees the bucket (its busy time is what the previous IDENTIFY left) for its next waiter.
    public func turnAbandoned(_ turn: IdentifyTurn) async {
        let bucket = bucketIndex(turn.shardID)
        let next = state.withLockedValue { state -> CheckedContinuation<Void, Error>? in
            guard state.buckets[bucket]?.holder == turn.id else { return nil }
            state.buckets[bucket]?.holder = nil
            return Self.wakeHead(&state, bucket: bucket)
        }
        next?.resume()
    }

    private func bucketIndex(_ shardID: Int) -> Int { ((shardID % maxConcurrency) + maxConcurrency) % maxConcurrency }

    /// What waiter `id` does next: take the bucket, sleep until it is free, or wait for a change.
    private func step(_ id: UInt64, bucket index: Int) -> Step {
        state.withLockedValue { state in
            guard var bucket = state.buckets[index], bucket.queue.first == id, bucket.holder == nil else { return .park }
            let now = clock.now
            if let busyUntil = bucket.busyUntil, now < busyUntil { return .sleep(until: busyUntil) }
            bucket.queue.removeFirst()
            bucket.holder = id
            state.buckets[index] = bucket
            return .granted
        }
    }

    /// Parks waiter `id` until the head of its bucket's queue or the holder changes (at once if it
    /// may already go on).
    private func park(_ id: UInt64, bucket index: Int) async throws {
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, Error>) in
                let resumeNow = state.withLockedValue { state -> Bool in
                    guard let bucket = state.buckets[index] else { return true }
                    if Task.isCancelled || (bucket.queue.first == id && bucket.holder == nil) { return true }
                    state.buckets[index]?.parked[id] = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            let parked = state.withLockedValue { $0.buckets[index]?.parked.removeValue(forKey: id) }
            parked?.resume(throwing: CancellationError())
        }
        try Task.checkCancellation()
    }

    /// The parked continuation of the bucket's first waiter, when the bucket is free for it.
    private static func wakeHead(_ state: inout State, bucket index: Int) -> CheckedContinuation<Void, Error>? {
        guard let bucket = state.buckets[index], bucket.holder == nil, let head = bucket.queue.first else { return nil }
        return state.buckets[index]?.parked.removeValue(forKey: head)
    }
}

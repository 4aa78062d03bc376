import NIOConcurrencyHelpers

/// Grants IDENTIFYs so that a bot never breaks Discord's identify limit: one IDENTIFY per bucket
/// (`shard_id % max_concurrency`) per 5 seconds.
public protocol IdentifyQueue: Sendable {
    /// Returns when shard `shardID` may send its IDENTIFY; throws when it never may (or on
    /// cancellation).
    func waitForTurn(shardID: Int) async throws
}

/// An identify queue for the shards of one process: one IDENTIFY per bucket per `interval`.
public final class LocalIdentifyQueue: IdentifyQueue {
    /// `session_start_limit.max_concurrency`.
    public let maxConcurrency: Int
    /// How long a bucket stays busy after an IDENTIFY (Discord: 5 s).
    public let interval: Duration
    private let clock: GatewayClock
    /// The next time each bucket is free.
    private let nextFree = NIOLockedValueBox<[Int: Duration]>([:])

    /// - Parameters:
    ///   - maxConcurrency: the bucket count from `GET /gateway/bot`.
    ///   - interval: the busy time per IDENTIFY: Discord's 5 s plus 0.5 s, since Discord times the
    ///     IDENTIFY when it arrives and arrival times jitter.
    ///   - clock: the clock to wait on.
    public init(maxConcurrency: Int = 1, interval: Duration = .milliseconds(5500), clock: GatewayClock = .continuous) {
        self.maxConcurrency = max(1, maxConcurrency)
        self.interval = interval
        self.clock = clock
    }

    /// Waits until bucket `shardID % maxConcurrency` may IDENTIFY, then holds it for ``interval``.
    public func waitForTurn(shardID: Int) async throws {
        let bucket = shardID % maxConcurrency
        // Reserve the bucket's next slot now, so that concurrent callers queue up in order.
        let slot = nextFree.withLockedValue { table -> Duration in
            let now = clock.now
            let slot = max(now, table[bucket] ?? now)
            table[bucket] = slot + interval
            return slot
        }
        try await clock.sleep(until: slot)
    }
}

/// An identify queue that never waits: for tests and for callers that coordinate elsewhere.
public struct UnlimitedIdentifyQueue: IdentifyQueue {
    /// A queue that grants every IDENTIFY at once.
    public init() {}
    /// Returns at once.
    public func waitForTurn(shardID: Int) async throws {}
}

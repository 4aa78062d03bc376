/// Grants IDENTIFYs so that a bot never breaks Discord's identify limit: one IDENTIFY per bucket
/// (`shard_id % max_concurrency`) per 5 seconds, timed by Discord when the IDENTIFY *arrives*.
///
/// A shard that has no session to resume calls ``waitForTurn(shardID:)`` before it opens its socket,
/// so a queued shard holds no connection. The turn holds its bucket until the shard reports it,
/// exactly once: ``identifySent(_:)`` right after the IDENTIFY was written (the bucket then stays
/// busy for the queue's interval from that moment, however long the connection and HELLO took), or
/// ``turnAbandoned(_:)`` when no IDENTIFY was written (the socket did not open, it closed before
/// HELLO, the shard stopped), which frees the bucket for the next shard.
///
/// ``LocalIdentifyQueue`` serves the shards of one process; an implementation backed by a shared
/// store can coordinate several processes the same way.
public protocol IdentifyQueue: Sendable {
    /// Returns when shard `shardID` may open its socket and IDENTIFY; throws when it never may (or on
    /// cancellation, which gives up the place in the queue).
    func waitForTurn(shardID: Int) async throws -> IdentifyTurn
    /// The IDENTIFY of `turn` was written to the socket just now: its bucket is busy from now on.
    func identifySent(_ turn: IdentifyTurn) async
    /// `turn` ended without an IDENTIFY being written: its bucket is free again (after whatever wait
    /// the previous IDENTIFY left).
    func turnAbandoned(_ turn: IdentifyTurn) async
}

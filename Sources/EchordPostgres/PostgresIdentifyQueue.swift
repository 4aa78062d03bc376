import EchordGateway
import EchordModels
import Foundation
import Logging
import NIOConcurrencyHelpers
import PostgresNIO

/// An identify queue shared by every process of a bot, on every machine: one IDENTIFY per bucket
/// (`shard_id % max_concurrency`) per ``interval`` for the whole bot, judged on the database's
/// clock (the machines' clocks never enter into it).
///
/// Each bucket is a row of `echord_identify_buckets`. A turn is granted by one atomic `UPDATE` that
/// succeeds only when the bucket is free (`busy_until <= now()`) and no other turn holds it; the
/// report that the IDENTIFY was written sets `busy_until = now() + interval` and frees the holder.
/// A turn never reported (its process died) stops holding the bucket after ``holdLimit``.
///
/// Waiting does not poll: a waiter whose bucket is busy sleeps for the time the database computed
/// (`busy_until - now()`, a duration, so clock offsets between machines do not matter); one whose
/// bucket is held by another turn sleeps until a `NOTIFY` says the turn ended (or until the hold
/// expires). Turns of one bucket are not served in strict arrival order across processes.
///
/// Session starts: after ``recordSessionStartLimit(total:remaining:resetAfter:)`` (with
/// `GET /gateway/bot`'s `session_start_limit`), every granted turn counts one start for the whole
/// bot; when none is left, waiters sleep until the reset. Without a record, starts are not counted.
///
/// It can be used on its own by bots that give each process its shard ids by hand: give every
/// process's `ShardManager` a queue from ``PostgresCluster/identifyQueue(maxConcurrency:interval:holdLimit:)``
/// with the same bot key.
public final class PostgresIdentifyQueue: Sendable {
    /// `session_start_limit.max_concurrency`: the bucket count.
    public let maxConcurrency: Int
    /// How long a bucket stays busy after an IDENTIFY was written.
    public let interval: Duration
    /// How long a granted turn may go unreported before the bucket is taken from it.
    public let holdLimit: Duration
    let cluster: PostgresCluster
    /// Tells this queue's turns apart from other processes' in the `holder` column.
    private let instance = UUID().uuidString
    private let counter = NIOLockedValueBox<UInt64>(0)

    init(cluster: PostgresCluster, maxConcurrency: Int, interval: Duration, holdLimit: Duration) {
        self.cluster = cluster
        self.maxConcurrency = max(1, maxConcurrency)
        self.interval = interval
        self.holdLimit = max(holdLimit, interval)
    }

    /// The bucket of `shardID`.
    public func bucket(of shardID: Int) -> Int { ((shardID % maxConcurrency) + maxConcurrency) % maxConcurrency }

    /// Records Discord's `session_start_limit` for the whole bot (the latest answer wins):
    /// `remaining` starts are left, and the count resets to `total` after `resetAfter`.
    public func recordSessionStartLimit(total: Int, remaining: Int, resetAfter: Duration) async throws {
        let botKey = cluster.configuration.botKey
        let seconds = resetAfter.seconds
        try await cluster.perform("record the session start limit") {
            try await cluster.client.query(
                """
                INSERT INTO echord_session_start_limit (bot_key, total, remaining, resets_at)
                VALUES (\(botKey), \(total), \(remaining), now() + make_interval(secs => \(seconds)))
                ON CONFLICT (bot_key) DO UPDATE SET total = excluded.total, remaining = excluded.remaining,
                    resets_at = excluded.resets_at
                """, logger: cluster.logger)
        }
    }

    /// The session starts left for the bot, if a limit was recorded.
    public func sessionStartsRemaining() async throws -> Int? {
        let botKey = cluster.configuration.botKey
        return try await cluster.perform("read the session start limit") {
            let rows = try await cluster.client.query(
                """
                SELECT CASE WHEN resets_at <= now() THEN total ELSE remaining END
                FROM echord_session_start_limit WHERE bot_key = \(botKey)
                """, logger: cluster.logger)
            for try await remaining in rows.decode(Int.self) { return remaining }
            return nil
        }
    }

    /// Waits until shard `shardID`'s bucket is free and no other turn holds it, then holds it
    /// (and counts a session start). Returns the turn's number, to report with ``release(_:bucket:sent:)``.
    func acquire(shardID: Int) async throws -> UInt64 {
        let bucket = bucket(of: shardID)
        let botKey = cluster.configuration.botKey
        let turn = counter.withLockedValue { $0 += 1; return $0 }
        let waitStart = ContinuousClock.now
        let token = holderToken(turn)
        let hold = holdLimit.seconds
        try await cluster.perform("create identify bucket \(bucket)") {
            try await cluster.client.query(
                """
                INSERT INTO echord_identify_buckets (bot_key, bucket) VALUES (\(botKey), \(bucket))
                ON CONFLICT DO NOTHING
                """, logger: cluster.logger)
        }
        while true {
            try Task.checkCancellation()
            let attempt: Attempt
            do {
                attempt = try await claim()
            } catch {
                // The claim may have committed before the error (a cancellation while its answer
                // was read): give the hold back, or the bucket stays held until the hold limit.
                giveBack(turn, bucket: bucket)
                throw error
            }
            if attempt.claimed && Task.isCancelled {
                giveBack(turn, bucket: bucket)
                throw CancellationError()
            }
            if attempt.claimed {
                if attempt.started || attempt.startLimitResetIn == nil {
                    ClusterMetrics.identifyWaits.increment()
                    ClusterMetrics.record(ClusterMetrics.identifyWaitTime, since: waitStart)
                    return turn
                }
                // No session start left for the bot: give the bucket back and wait for the reset.
                await release(turn, bucket: bucket, sent: false)
                let wait = max(1, attempt.startLimitResetIn ?? 1)
                cluster.logger.warning("session start limit exhausted for the bot; waiting for the reset", metadata: [
                    "shard": "\(shardID)", "reset_in_seconds": "\(Int(wait))",
                ])
                await cluster.notifications.wait(for: "never", atMost: .seconds(wait))
                continue
            }
            // Held by another turn: until it is reported (NOTIFY) or its hold expires. Busy: for
            // the time the database computed (a NOTIFY wakes early; the claim then simply retries).
            let wait = attempt.heldFor.map { max($0, attempt.busyFor) } ?? attempt.busyFor
            await cluster.notifications.wait(
                for: cluster.topic("identify/\(bucket)"), atMost: .milliseconds(Int64(wait * 1000) + 5))
        }

        func claim() async throws -> Attempt {
            try await cluster.perform("claim identify bucket \(bucket)") { () -> Attempt in
                let rows = try await cluster.client.query(
                    """
                    WITH claim AS (
                        UPDATE echord_identify_buckets
                        SET holder = \(token), holder_expires = now() + make_interval(secs => \(hold))
                        WHERE bot_key = \(botKey) AND bucket = \(bucket) AND busy_until <= now()
                          AND (holder IS NULL OR holder_expires <= now())
                        RETURNING 1
                    ), start AS (
                        UPDATE echord_session_start_limit SET
                            remaining = CASE WHEN resets_at <= now() THEN total ELSE remaining END - 1,
                            resets_at = CASE WHEN resets_at <= now() THEN now() + interval '24 hours' ELSE resets_at END
                        WHERE bot_key = \(botKey) AND EXISTS (SELECT 1 FROM claim)
                          AND (remaining > 0 OR resets_at <= now())
                        RETURNING 1
                    )
                    SELECT (SELECT count(*) FROM claim)::int8,
                           (SELECT count(*) FROM start)::int8,
                           (SELECT extract(epoch FROM resets_at - now())::float8
                              FROM echord_session_start_limit WHERE bot_key = \(botKey)),
                           extract(epoch FROM greatest(busy_until - now(), interval '0'))::float8,
                           CASE WHEN holder IS NOT NULL AND holder_expires > now()
                                THEN extract(epoch FROM holder_expires - now())::float8 END
                    FROM echord_identify_buckets WHERE bot_key = \(botKey) AND bucket = \(bucket)
                    """, logger: cluster.logger)
                for try await (claimed, started, resetIn, busyFor, heldFor)
                    in rows.decode((Int, Int, Double?, Double, Double?).self)
                {
                    return Attempt(claimed: claimed == 1, started: started == 1, startLimitResetIn: resetIn,
                                   busyFor: busyFor, heldFor: heldFor)
                }
                return Attempt(claimed: false, started: false, startLimitResetIn: nil, busyFor: 0, heldFor: nil)
            }
        }
    }

    /// Gives turn number `turn`'s hold of `bucket` back, if it has one, from a task of its own: the
    /// caller's task is cancelled (a query from it would not even get a connection). One such task
    /// per wait that ended by cancellation or error.
    private func giveBack(_ turn: UInt64, bucket: Int) {
        Task { await self.release(turn, bucket: bucket, sent: false) }
    }

    /// The `holder` value of turn number `turn` of this queue.
    private func holderToken(_ turn: UInt64) -> String { "\(instance)/\(turn)" }

    /// Reports turn number `turn` of `bucket`: with `sent`, its IDENTIFY was written just now and the
    /// bucket is busy for ``interval`` from the database's now; without, the bucket is free again
    /// (after whatever wait the previous IDENTIFY left). Other processes' waiters are notified.
    /// A failure is logged: the hold then expires on its own after ``holdLimit``, which is never
    /// shorter than ``interval``, so the bucket cannot be granted early.
    ///
    /// The report runs in a task of its own: the caller is often a shard that is stopping, whose
    /// task is cancelled, and the pool refuses a cancelled task a connection; the bucket would then
    /// stay held until the hold limit (seen as a 60 s stall of a cluster's start-up).
    func release(_ turn: UInt64, bucket: Int, sent: Bool) async {
        await Task { await self.report(turn, bucket: bucket, sent: sent) }.value
    }

    private func report(_ turn: UInt64, bucket: Int, sent: Bool) async {
        let token = holderToken(turn)
        let botKey = cluster.configuration.botKey
        let seconds = interval.seconds
        do {
            try await cluster.perform("report identify turn of bucket \(bucket)") {
                if sent {
                    try await cluster.client.query(
                        """
                        UPDATE echord_identify_buckets SET
                            busy_until = greatest(busy_until, now() + make_interval(secs => \(seconds))),
                            holder = CASE WHEN holder = \(token) THEN NULL ELSE holder END,
                            holder_expires = CASE WHEN holder = \(token) THEN NULL ELSE holder_expires END
                        WHERE bot_key = \(botKey) AND bucket = \(bucket)
                        """, logger: cluster.logger)
                } else {
                    try await cluster.client.query(
                        """
                        UPDATE echord_identify_buckets SET holder = NULL, holder_expires = NULL
                        WHERE bot_key = \(botKey) AND bucket = \(bucket) AND holder = \(token)
                        """, logger: cluster.logger)
                }
                try await cluster.notify("identify/\(bucket)")
            }
        } catch {
            cluster.logger.warning("could not report an identify turn; its hold will expire", metadata: [
                "bucket": "\(bucket)", "reason": "\(error)",
            ])
        }
    }

    private struct Attempt {
        var claimed: Bool
        var started: Bool
        var startLimitResetIn: Double?
        var busyFor: Double
        var heldFor: Double?
    }
}

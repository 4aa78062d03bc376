import EchordGateway
import EchordModels
import PostgresNIO

/// A shard lease held by one member: the shard, and the fencing epoch that every write made on the
/// lease's behalf carries.
public struct ShardLease: Sendable, Hashable {
    /// The shard id.
    public var shardID: Int
    /// The fencing token: raised each time the lease changes holder; a write that carries an older
    /// epoch is refused.
    public var epoch: Int64
}

/// The membership and lease rows of one bot key (`echord_members`, `echord_leases`), all judged on
/// the database's clock.
struct LeaseTable: Sendable {
    let cluster: PostgresCluster
    var botKey: String { cluster.configuration.botKey }
    var logger: Logger { cluster.logger }

    /// Marks `member` alive until `ttl` from the database's now; returns the live members, sorted.
    func heartbeat(member: String, ttl: Duration) async throws -> [String] {
        let seconds = ttl.seconds
        return try await cluster.perform("heartbeat") {
            try await cluster.client.query(
                """
                INSERT INTO echord_members (bot_key, member_id, expires_at)
                VALUES (\(botKey), \(member), now() + make_interval(secs => \(seconds)))
                ON CONFLICT (bot_key, member_id) DO UPDATE SET heartbeat_at = now(), expires_at = excluded.expires_at
                """, logger: logger)
            let rows = try await cluster.client.query(
                """
                SELECT member_id FROM echord_members WHERE bot_key = \(botKey) AND expires_at > now()
                ORDER BY member_id
                """, logger: logger)
            var members: [String] = []
            for try await id in rows.decode(String.self) { members.append(id) }
            return members
        }
    }

    /// Extends the leases of `member` that carry the given epochs to `ttl` from now; returns those
    /// extended (a lease missing from the answer was lost).
    func renew(member: String, leases: [ShardLease], ttl: Duration) async throws -> Set<ShardLease> {
        guard !leases.isEmpty else { return [] }
        let seconds = ttl.seconds
        let shards = leases.map(\.shardID)
        let epochs = leases.map(\.epoch)
        return try await cluster.perform("renew leases") {
            let rows = try await cluster.client.query(
                """
                UPDATE echord_leases l SET expires_at = now() + make_interval(secs => \(seconds)), renewed_at = now()
                FROM unnest(\(shards)::int4[], \(epochs)::int8[]) AS mine(shard_id, epoch)
                WHERE l.bot_key = \(botKey) AND l.shard_id = mine.shard_id AND l.epoch = mine.epoch
                  AND l.holder = \(member) AND l.expires_at > now()
                RETURNING l.shard_id, l.epoch
                """, logger: logger)
            var renewed: Set<ShardLease> = []
            for try await (shard, epoch) in rows.decode((Int, Int64).self) { renewed.insert(ShardLease(shardID: shard, epoch: epoch)) }
            return renewed
        }
    }

    /// Takes the lease of `shardID` for `member` if nobody holds it or its lease ended: the epoch
    /// is raised. Returns the lease, or nil when another member holds it.
    func acquire(member: String, shardID: Int, shardCount: Int, ttl: Duration) async throws -> ShardLease? {
        let seconds = ttl.seconds
        return try await cluster.perform("acquire the lease of shard \(shardID)") {
            let rows = try await cluster.client.query(
                """
                WITH prior AS (
                    SELECT holder IS NOT NULL AND expires_at <= now() AS expired
                    FROM echord_leases WHERE bot_key = \(botKey) AND shard_id = \(shardID)
                )
                INSERT INTO echord_leases AS l (bot_key, shard_id, shard_count, holder, epoch, expires_at)
                VALUES (\(botKey), \(shardID), \(shardCount), \(member), 1, now() + make_interval(secs => \(seconds)))
                ON CONFLICT (bot_key, shard_id) DO UPDATE SET
                    holder = excluded.holder, shard_count = excluded.shard_count, epoch = l.epoch + 1,
                    acquired_at = now(), renewed_at = now(), expires_at = excluded.expires_at,
                    failovers = l.failovers + CASE WHEN l.holder IS NOT NULL THEN 1 ELSE 0 END
                WHERE l.holder IS NULL OR l.expires_at <= now()
                RETURNING l.epoch, coalesce((SELECT expired FROM prior), false)
                """, logger: logger)
            for try await (epoch, failover) in rows.decode((Int64, Bool).self) {
                if failover { ClusterMetrics.failovers.increment() }
                return ShardLease(shardID: shardID, epoch: epoch)
            }
            return nil
        }
    }

    /// Gives up `lease` (after its shard stopped and saved its session): another member may take it
    /// at once.
    func release(member: String, lease: ShardLease) async throws {
        try await cluster.perform("release the lease of shard \(lease.shardID)") {
            try await cluster.client.query(
                """
                UPDATE echord_leases SET holder = NULL, expires_at = now()
                WHERE bot_key = \(botKey) AND shard_id = \(lease.shardID) AND epoch = \(lease.epoch) AND holder = \(member)
                """, logger: logger)
            try await cluster.notify("leases")
        }
    }

    /// Removes `member` from the live members (a graceful leave).
    func leave(member: String) async throws {
        try await cluster.perform("leave the cluster") {
            try await cluster.client.query(
                "DELETE FROM echord_members WHERE bot_key = \(botKey) AND member_id = \(member)", logger: logger)
            try await cluster.notify("leases")
        }
    }

    /// Saves `session` only while `member` holds `lease` with its epoch (the fencing check).
    /// Returns false when the lease was lost: nothing was written.
    func fencedSave(_ session: GatewaySession?, member: String, lease: ShardLease, shardCount: Int) async throws -> Bool {
        try await cluster.perform("save the session of shard \(lease.shardID)") {
            let rows: PostgresRowSequence
            if let session {
                rows = try await cluster.client.query(
                    """
                    INSERT INTO echord_sessions (bot_key, shard_id, shard_count, session_id, sequence, resume_gateway_url)
                    SELECT \(botKey), \(lease.shardID), \(shardCount), \(session.sessionID), \(session.sequence),
                           \(session.resumeGatewayURL)
                    WHERE EXISTS (SELECT 1 FROM echord_leases WHERE bot_key = \(botKey) AND shard_id = \(lease.shardID)
                                  AND holder = \(member) AND epoch = \(lease.epoch))
                    ON CONFLICT (bot_key, shard_id, shard_count) DO UPDATE SET
                        session_id = excluded.session_id,
                        sequence = CASE WHEN echord_sessions.session_id = excluded.session_id
                                        THEN greatest(echord_sessions.sequence, excluded.sequence) ELSE excluded.sequence END,
                        resume_gateway_url = excluded.resume_gateway_url, updated_at = now()
                    RETURNING 1
                    """, logger: logger)
            } else {
                rows = try await cluster.client.query(
                    """
                    WITH fenced AS (
                        SELECT 1 FROM echord_leases WHERE bot_key = \(botKey) AND shard_id = \(lease.shardID)
                          AND holder = \(member) AND epoch = \(lease.epoch)
                    ), gone AS (
                        DELETE FROM echord_sessions WHERE bot_key = \(botKey) AND shard_id = \(lease.shardID)
                          AND shard_count = \(shardCount) AND EXISTS (SELECT 1 FROM fenced)
                    )
                    SELECT 1 FROM fenced
                    """, logger: logger)
            }
            for try await _ in rows {
                ClusterMetrics.checkpoints.increment()
                return true
            }
            return false
        }
    }
}

/// The session store a cluster member gives one shard: it answers the session the member read
/// (bounded in time) when it took the lease, and writes only while the member still holds the
/// shard's lease with its epoch.
struct FencedSessionStore: SessionStore {
    let table: LeaseTable
    let lease: ShardLease
    /// The member's leases: its id, and its checkpoint mode (what sequence a save records).
    let owner: LeaseKeeper
    /// The stored session read when the lease was taken.
    let stored: GatewaySession?
    var member: String { owner.configuration.memberID }

    func session(shardID: Int, shardCount: Int) async throws -> GatewaySession? {
        owner.resumed(stored, shardID: shardID)
        return stored
    }

    func save(_ session: GatewaySession?, shardID: Int, shardCount: Int) async throws {
        let session = owner.checkpoint(session, shardID: shardID)
        // A shard waits for its saves, for up to half a lease TTL: a slow save under load still lands
        // before a handover releases the lease, while a query the database never answers (it went
        // down as the save was written; such a query ignores cancellation) is left behind, so an
        // outage never keeps a stopping shard from ending (the checkpoint is then older: at least
        // once still holds; a late write is fenced by the lease's epoch).
        let (table, member, lease) = (self.table, self.member, self.lease)
        let saved: Bool
        do {
            saved = try await table.cluster.withTimeLimit(owner.configuration.leaseTTL / 2, "save the session of shard \(shardID)") {
                try await table.fencedSave(session, member: member, lease: lease, shardCount: shardCount)
            }
        } catch is CancellationError {
            throw CancellationError()  // the shard's task ends; the write itself goes on
        } catch {
            owner.saveUnconfirmed(shardID: shardID)
            throw error
        }
        guard saved else {
            throw PostgresClusterError.leaseLost(shardID: shardID, epoch: lease.epoch)
        }
    }
}

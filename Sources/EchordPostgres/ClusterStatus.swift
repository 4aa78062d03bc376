import PostgresNIO

/// What the cluster database says about one bot key: members, leases and sessions, with ages on
/// the database's clock.
public struct ClusterStatus: Sendable, Equatable, Codable {
    /// One member (a process in cluster mode).
    public struct Member: Sendable, Equatable, Codable {
        /// The member id.
        public var id: String
        /// Seconds since its last heartbeat.
        public var heartbeatAgeSeconds: Double
        /// Whether its heartbeat is still current (it counts in the assignment).
        public var alive: Bool
        /// The shards it holds leases for.
        public var shards: [Int]
    }

    /// One shard's lease.
    public struct Lease: Sendable, Equatable, Codable {
        /// The shard id.
        public var shardID: Int
        /// The member holding it; nil when released.
        public var holder: String?
        /// The fencing epoch.
        public var epoch: Int64
        /// Seconds since it was acquired by its holder.
        public var ageSeconds: Double
        /// Seconds until it ends unless renewed (negative: ended).
        public var expiresInSeconds: Double
        /// How often the shard was taken from a holder whose lease had ended or was released.
        public var failovers: Int
    }

    /// One shard's stored session: the checkpoint a new holder resumes from.
    public struct Session: Sendable, Equatable, Codable {
        /// The shard id.
        public var shardID: Int
        /// The shard count it was made for.
        public var shardCount: Int
        /// The session id.
        public var sessionID: String
        /// The checkpointed sequence.
        public var sequence: Int
        /// Seconds since the last checkpoint.
        public var ageSeconds: Double
    }

    /// The bot key.
    public var botKey: String
    /// The members, live and recently dead.
    public var members: [Member]
    /// The leases, by shard.
    public var leases: [Lease]
    /// The stored sessions, by shard.
    public var sessions: [Session]
}

extension PostgresCluster {
    /// Reads the members, leases and sessions of this bot key.
    public func status() async throws -> ClusterStatus {
        let botKey = configuration.botKey
        return try await perform("read the cluster status") {
            var leases: [ClusterStatus.Lease] = []
            let leaseRows = try await client.query(
                """
                SELECT shard_id, holder, epoch, extract(epoch FROM now() - acquired_at)::float8,
                       extract(epoch FROM expires_at - now())::float8, failovers
                FROM echord_leases WHERE bot_key = \(botKey) ORDER BY shard_id
                """, logger: logger)
            for try await (shard, holder, epoch, age, expiresIn, failovers)
                in leaseRows.decode((Int, String?, Int64, Double, Double, Int).self)
            {
                leases.append(.init(shardID: shard, holder: holder, epoch: epoch, ageSeconds: age,
                                    expiresInSeconds: expiresIn, failovers: failovers))
            }
            var members: [ClusterStatus.Member] = []
            let memberRows = try await client.query(
                """
                SELECT member_id, extract(epoch FROM now() - heartbeat_at)::float8, expires_at > now()
                FROM echord_members WHERE bot_key = \(botKey) ORDER BY member_id
                """, logger: logger)
            for try await (id, age, alive) in memberRows.decode((String, Double, Bool).self) {
                let shards = leases.filter { $0.holder == id && $0.expiresInSeconds > 0 }.map(\.shardID)
                members.append(.init(id: id, heartbeatAgeSeconds: age, alive: alive, shards: shards))
            }
            var sessions: [ClusterStatus.Session] = []
            let sessionRows = try await client.query(
                """
                SELECT shard_id, shard_count, session_id, sequence, extract(epoch FROM now() - updated_at)::float8
                FROM echord_sessions WHERE bot_key = \(botKey) ORDER BY shard_id, shard_count
                """, logger: logger)
            for try await (shard, count, id, sequence, age) in sessionRows.decode((Int, Int, String, Int, Double).self) {
                sessions.append(.init(shardID: shard, shardCount: count, sessionID: id, sequence: sequence, ageSeconds: age))
            }
            return ClusterStatus(botKey: botKey, members: members, leases: leases, sessions: sessions)
        }
    }
}

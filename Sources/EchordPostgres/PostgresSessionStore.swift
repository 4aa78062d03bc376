import EchordGateway
import PostgresNIO

/// Sessions kept in the cluster database (`echord_sessions`), one row per shard of the bot key:
/// a shard started by any process of the bot, on any machine, resumes the session another left.
///
/// Within one session the stored sequence (the checkpoint) never goes back: a save with a lower
/// sequence for the same session id keeps the higher one.
///
/// Made by ``PostgresCluster/sessionStore()``; the cluster's ``PostgresCluster/run()`` must be
/// running. Errors are ``PostgresClusterError`` (no credentials in them).
public struct PostgresSessionStore: SessionStore {
    let cluster: PostgresCluster

    /// The session saved for shard `shardID` of `shardCount` of this bot key, if any.
    public func session(shardID: Int, shardCount: Int) async throws -> GatewaySession? {
        let botKey = cluster.configuration.botKey
        return try await cluster.perform("read the session of shard \(shardID)") {
            let rows = try await cluster.client.query(
                """
                SELECT session_id, sequence, resume_gateway_url FROM echord_sessions
                WHERE bot_key = \(botKey) AND shard_id = \(shardID) AND shard_count = \(shardCount)
                """, logger: cluster.logger)
            for try await (sessionID, sequence, url) in rows.decode((String, Int, String).self) {
                return GatewaySession(sessionID: sessionID, sequence: sequence, resumeGatewayURL: url)
            }
            return nil
        }
    }

    /// The ids among `shardIDs` that have a session saved for `shardCount`: one query. A database
    /// failure counts as none (the shards then identify, which is safe).
    public func shardsWithSession(_ shardIDs: [Int], shardCount: Int) async -> Set<Int> {
        let botKey = cluster.configuration.botKey
        do {
            return try await cluster.perform("list the stored sessions") {
                let rows = try await cluster.client.query(
                    """
                    SELECT shard_id FROM echord_sessions
                    WHERE bot_key = \(botKey) AND shard_count = \(shardCount) AND shard_id = ANY(\(shardIDs)::int4[])
                    """, logger: cluster.logger)
                var found = Set<Int>()
                for try await id in rows.decode(Int.self) { found.insert(id) }
                return found
            }
        } catch {
            cluster.logger.warning("could not list the stored sessions", metadata: ["reason": "\(error)"])
            return []
        }
    }

    /// Saves (or, with nil, deletes) the session of shard `shardID` of `shardCount`. Gives up
    /// after 5 s without an answer (a shard waits for its saves; the next save catches up).
    public func save(_ session: GatewaySession?, shardID: Int, shardCount: Int) async throws {
        let botKey = cluster.configuration.botKey
        let cluster = self.cluster
        try await cluster.withTimeLimit(.seconds(5), "save the session of shard \(shardID)") {
            try await Self.write(session, cluster: cluster, botKey: botKey, shardID: shardID, shardCount: shardCount)
        }
    }

    private static func write(
        _ session: GatewaySession?, cluster: PostgresCluster, botKey: String, shardID: Int, shardCount: Int
    ) async throws {
        try await cluster.perform("save the session of shard \(shardID)") {
            guard let session else {
                try await cluster.client.query(
                    """
                    DELETE FROM echord_sessions
                    WHERE bot_key = \(botKey) AND shard_id = \(shardID) AND shard_count = \(shardCount)
                    """, logger: cluster.logger)
                return
            }
            try await cluster.client.query(Self.upsert(session, botKey: botKey, shardID: shardID, shardCount: shardCount),
                                           logger: cluster.logger)
        }
    }

    /// Saves `session` as part of the transaction on `connection`: commit your own results and the
    /// shard's checkpoint together, so that a failover neither loses nor repeats their effect.
    ///
    /// ```swift
    /// try await client.withTransaction(logger: logger) { connection in
    ///     try await connection.query("INSERT INTO greetings ...", logger: logger)
    ///     try await store.save(session, shardID: 3, shardCount: 12, on: connection)
    /// }
    /// ```
    public func save(_ session: GatewaySession, shardID: Int, shardCount: Int, on connection: PostgresConnection) async throws {
        let botKey = cluster.configuration.botKey
        try await cluster.perform("save the session of shard \(shardID)") {
            try await connection.query(Self.upsert(session, botKey: botKey, shardID: shardID, shardCount: shardCount),
                                       logger: cluster.logger)
        }
    }

    static func upsert(_ session: GatewaySession, botKey: String, shardID: Int, shardCount: Int) -> PostgresQuery {
        """
        INSERT INTO echord_sessions (bot_key, shard_id, shard_count, session_id, sequence, resume_gateway_url)
        VALUES (\(botKey), \(shardID), \(shardCount), \(session.sessionID), \(session.sequence), \(session.resumeGatewayURL))
        ON CONFLICT (bot_key, shard_id, shard_count) DO UPDATE SET
            session_id = excluded.session_id,
            sequence = CASE WHEN echord_sessions.session_id = excluded.session_id
                            THEN greatest(echord_sessions.sequence, excluded.sequence) ELSE excluded.sequence END,
            resume_gateway_url = excluded.resume_gateway_url, updated_at = now()
        """
    }
}

import PostgresNIO

/// The versioned schema of cluster mode, applied by ``PostgresCluster/migrate()``.
///
/// `echord_schema_migrations` records each applied version. Migrations run in one transaction
/// under an advisory lock, so processes that start together apply each version once; a database
/// migrated by a newer Echord (a version this one does not know) is refused, not altered. A
/// database already up to date needs no DDL: processes may log in as a role that can only read and
/// write the tables.
///
/// Version 1:
/// - `echord_sessions`: one row per bot key, shard id and shard count: session id, sequence
///   (the checkpoint), resume URL, update time.
/// - `echord_identify_buckets`: one row per bot key and bucket: when the bucket is free
///   (`busy_until`, on the database's clock) and the turn granted and not yet reported (`holder`,
///   `holder_expires`).
/// - `echord_session_start_limit`: per bot key, the session starts left and when they reset.
///
/// Version 2 (shard leases):
/// - `echord_members`: the processes of a bot key in cluster mode, with their heartbeat and when
///   they are presumed dead (`expires_at`).
/// - `echord_leases`: one row per shard of a bot key: its holder, the fencing epoch (raised on
///   every change of holder), and when the lease ends unless renewed (`expires_at`).
public enum PostgresClusterSchema {
    /// The newest schema version this Echord knows.
    public static let currentVersion = migrations.count

    /// Each version's statements, in order (version `n` is `migrations[n - 1]`).
    static let migrations: [[PostgresQuery]] = [
        [
            """
            CREATE TABLE echord_sessions (
                bot_key text NOT NULL,
                shard_id integer NOT NULL,
                shard_count integer NOT NULL,
                session_id text NOT NULL,
                sequence bigint NOT NULL,
                resume_gateway_url text NOT NULL,
                updated_at timestamptz NOT NULL DEFAULT now(),
                PRIMARY KEY (bot_key, shard_id, shard_count)
            )
            """,
            """
            CREATE TABLE echord_identify_buckets (
                bot_key text NOT NULL,
                bucket integer NOT NULL,
                busy_until timestamptz NOT NULL DEFAULT 'epoch',
                holder text,
                holder_expires timestamptz,
                PRIMARY KEY (bot_key, bucket)
            )
            """,
            """
            CREATE TABLE echord_session_start_limit (
                bot_key text PRIMARY KEY,
                total integer NOT NULL,
                remaining integer NOT NULL,
                resets_at timestamptz NOT NULL
            )
            """,
        ],
        [
            """
            CREATE TABLE echord_members (
                bot_key text NOT NULL,
                member_id text NOT NULL,
                joined_at timestamptz NOT NULL DEFAULT now(),
                heartbeat_at timestamptz NOT NULL DEFAULT now(),
                expires_at timestamptz NOT NULL,
                PRIMARY KEY (bot_key, member_id)
            )
            """,
            """
            CREATE TABLE echord_leases (
                bot_key text NOT NULL,
                shard_id integer NOT NULL,
                shard_count integer NOT NULL,
                holder text,
                epoch bigint NOT NULL DEFAULT 0,
                acquired_at timestamptz NOT NULL DEFAULT now(),
                renewed_at timestamptz NOT NULL DEFAULT now(),
                expires_at timestamptz NOT NULL DEFAULT 'epoch',
                failovers integer NOT NULL DEFAULT 0,
                PRIMARY KEY (bot_key, shard_id)
            )
            """,
        ],
    ]

    /// An arbitrary, fixed advisory lock key for migrations ("echord" in ASCII).
    static let migrationLock: Int64 = 0x65_63_68_6f_72_64

    static func migrate(_ cluster: PostgresCluster) async throws {
        try await cluster.perform("migrate the schema") {
            // A connection of its own, not the pool's: a wrong password or an unreachable server
            // fails here at once instead of after the pool's retries.
            try await cluster.withDirectConnection { direct in
                try await direct.withTransaction(logger: cluster.logger) { connection in
                    try await connection.query("SELECT pg_advisory_xact_lock(\(migrationLock))", logger: cluster.logger)
                    // Only when missing: a role without CREATE on the schema can still start a
                    // process against a database that is up to date.
                    let existing = try await connection.query(
                        "SELECT to_regclass('echord_schema_migrations') IS NOT NULL", logger: cluster.logger)
                    var exists = false
                    for try await value in existing.decode(Bool.self) { exists = value }
                    if !exists {
                        try await connection.query(
                            """
                            CREATE TABLE echord_schema_migrations (
                                version integer PRIMARY KEY,
                                applied_at timestamptz NOT NULL DEFAULT now()
                            )
                            """, logger: cluster.logger)
                    }
                    let rows = try await connection.query(
                        "SELECT coalesce(max(version), 0) FROM echord_schema_migrations", logger: cluster.logger)
                    var found = 0
                    for try await version in rows.decode(Int.self) { found = version }
                    if found > currentVersion {
                        throw PostgresClusterError.schemaTooNew(found: found, known: currentVersion)
                    }
                    for version in (found + 1)...max(found + 1, currentVersion) where version <= currentVersion {
                        for statement in migrations[version - 1] {
                            try await connection.query(statement, logger: cluster.logger)
                        }
                        try await connection.query(
                            "INSERT INTO echord_schema_migrations (version) VALUES (\(version))", logger: cluster.logger)
                        cluster.logger.info("applied cluster schema migration", metadata: ["version": "\(version)"])
                    }
                }
            }
        }
    }
}

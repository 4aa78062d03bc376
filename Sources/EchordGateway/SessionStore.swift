import NIOConcurrencyHelpers

/// Where shards keep their sessions, so that a restarted process resumes instead of identifying.
///
/// Shards save in batches (see ``ShardConfiguration/sessionSaveInterval``), not per event.
public protocol SessionStore: Sendable {
    /// The session saved for shard `shardID` of `shardCount`, if any.
    func session(shardID: Int, shardCount: Int) async throws -> GatewaySession?
    /// Saves (or, with nil, deletes) the session of shard `shardID` of `shardCount`.
    func save(_ session: GatewaySession?, shardID: Int, shardCount: Int) async throws
}

/// Sessions kept in memory: they survive reconnects, not the process.
public final class InMemorySessionStore: SessionStore {
    private struct Key: Hashable {
        let shardID: Int
        let shardCount: Int
    }
    private let sessions = NIOLockedValueBox<[Key: GatewaySession]>([:])

    /// An empty store.
    public init() {}

    /// The session saved for shard `shardID` of `shardCount`, if any.
    public func session(shardID: Int, shardCount: Int) async throws -> GatewaySession? {
        sessions.withLockedValue { $0[Key(shardID: shardID, shardCount: shardCount)] }
    }

    /// Keeps `session` for shard `shardID` of `shardCount` (nil forgets it).
    public func save(_ session: GatewaySession?, shardID: Int, shardCount: Int) async throws {
        sessions.withLockedValue { $0[Key(shardID: shardID, shardCount: shardCount)] = session }
    }
}

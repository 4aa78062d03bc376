import NIOConcurrencyHelpers

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

    /// The ids among `shardIDs` with a session for `shardCount`: one pass over the stored sessions.
    public func shardsWithSession(_ shardIDs: [Int], shardCount: Int) async -> Set<Int> {
        let stored = sessions.withLockedValue { $0.keys.filter { $0.shardCount == shardCount }.map(\.shardID) }
        guard !stored.isEmpty else { return [] }
        return Set(stored).intersection(shardIDs)
    }

    /// Keeps `session` for shard `shardID` of `shardCount` (nil forgets it).
    public func save(_ session: GatewaySession?, shardID: Int, shardCount: Int) async throws {
        sessions.withLockedValue { $0[Key(shardID: shardID, shardCount: shardCount)] = session }
    }
}

/// Where shards keep their sessions, so that a restarted process resumes instead of identifying.
///
/// Shards save in batches (see ``ShardConfiguration/sessionSaveInterval``), not per event.
public protocol SessionStore: Sendable {
    /// The session saved for shard `shardID` of `shardCount`, if any.
    func session(shardID: Int, shardCount: Int) async throws -> GatewaySession?
    /// Saves (or, with nil, deletes) the session of shard `shardID` of `shardCount`.
    func save(_ session: GatewaySession?, shardID: Int, shardCount: Int) async throws
    /// The ids among `shardIDs` that have a session saved for `shardCount`. A ShardManager asks this
    /// once at start; the default asks ``session(shardID:shardCount:)`` per id (an unreadable entry
    /// counts as none), so a store that can answer in one query should.
    func shardsWithSession(_ shardIDs: [Int], shardCount: Int) async -> Set<Int>
}

extension SessionStore {
    /// Asks ``session(shardID:shardCount:)`` for each id.
    public func shardsWithSession(_ shardIDs: [Int], shardCount: Int) async -> Set<Int> {
        var found = Set<Int>()
        for id in shardIDs where (try? await session(shardID: id, shardCount: shardCount)) != nil { found.insert(id) }
        return found
    }
}

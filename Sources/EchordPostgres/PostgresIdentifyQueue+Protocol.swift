import EchordGateway

extension PostgresIdentifyQueue: IdentifyQueue {
    /// Waits until shard `shardID` may IDENTIFY for the whole bot, then marks its bucket busy for
    /// ``interval`` from the database's now.
    public func waitForTurn(shardID: Int) async throws {
        let turn = try await acquire(shardID: shardID)
        await release(turn, bucket: bucket(of: shardID), sent: true)
    }
}

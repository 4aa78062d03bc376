import EchordGateway

extension PostgresIdentifyQueue: IdentifyQueue {
    /// Waits until shard `shardID` may open its socket and IDENTIFY for the whole bot: its bucket
    /// is free on the database's clock and no other process holds it; then holds the bucket until
    /// the turn is reported.
    public func waitForTurn(shardID: Int) async throws -> IdentifyTurn {
        IdentifyTurn(shardID: shardID, id: try await acquire(shardID: shardID))
    }

    /// The IDENTIFY of `turn` was written: its bucket is busy for ``interval`` from the database's
    /// now, and waiters in every process are woken.
    public func identifySent(_ turn: IdentifyTurn) async {
        await release(turn.id, bucket: bucket(of: turn.shardID), sent: true)
    }

    /// `turn` ended without an IDENTIFY: its bucket is free again for any process.
    public func turnAbandoned(_ turn: IdentifyTurn) async {
        await release(turn.id, bucket: bucket(of: turn.shardID), sent: false)
    }
}

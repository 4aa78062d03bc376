/// One shard's granted permission to IDENTIFY, from ``IdentifyQueue/waitForTurn(shardID:)`` until it
/// is reported with ``IdentifyQueue/identifySent(_:)`` or ``IdentifyQueue/turnAbandoned(_:)``.
public struct IdentifyTurn: Sendable, Hashable {
    /// The shard the turn was granted to.
    public let shardID: Int
    /// Tells the turns of one queue apart (a queue picks its own numbering).
    public let id: UInt64

    /// A turn for `shardID`, numbered `id` by the queue that grants it.
    public init(shardID: Int, id: UInt64) {
        self.shardID = shardID
        self.id = id
    }
}

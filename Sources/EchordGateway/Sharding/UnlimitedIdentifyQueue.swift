import NIOConcurrencyHelpers

/// An identify queue that never waits: for tests and for callers that coordinate elsewhere.
public struct UnlimitedIdentifyQueue: IdentifyQueue {
    private let counter = NIOLockedValueBox<UInt64>(0)

    /// A queue that grants every IDENTIFY at once.
    public init() {}
    /// Returns a turn at once.
    public func waitForTurn(shardID: Int) async throws -> IdentifyTurn {
        IdentifyTurn(shardID: shardID, id: counter.withLockedValue { $0 += 1; return $0 })
    }
    /// Does nothing.
    public func identifySent(_ turn: IdentifyTurn) async {}
    /// Does nothing.
    public func turnAbandoned(_ turn: IdentifyTurn) async {}
}

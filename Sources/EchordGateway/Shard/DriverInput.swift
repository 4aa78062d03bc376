import NIOCore

/// What the shard's main loop reacts to.
enum DriverInput: Sendable {
    /// A protocol input; `connection` tags inputs of one socket, so late ones of an old socket are dropped.
    case machine(ShardStateMachine.Input, connection: Int?)
    /// A user command to send.
    case command(id: Int, bytes: [UInt8], opcode: Int)
    /// The socket of connection `connection` is upgraded; its handler reports this before any frame.
    case opened(NIOCore.Channel, connection: Int)
    /// The wait for an identify turn of connection `connection` ended: the turn, or nil when none
    /// was granted.
    case identifyTurn(IdentifyTurn?, connection: Int)
    /// The send limiter of connection `connection` has a free slot again.
    case pump(connection: Int)
    /// The handler of connection `connection` left an `s` in the shard's ``SequenceMailbox`` once
    /// a session-save check was due: the main loop takes it (and saves when the session changed).
    case sequenceReported(connection: Int)
}

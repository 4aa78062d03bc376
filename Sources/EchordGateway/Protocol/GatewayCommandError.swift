/// Why a command was not sent.
public enum GatewayCommandError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The encoded command is larger than Discord accepts (the gateway would close with 4002).
    case tooLarge(size: Int, limit: Int)
    /// The shard was not ready within the wait for commands issued while it was disconnected.
    case notConnected(waited: Duration)
    /// The shard stopped before the command could be sent.
    case shardStopped
    /// The command could not be encoded (described).
    case encodingFailed(String)

    public var description: String {
        switch self {
        case .tooLarge(let size, let limit): "command of \(size) bytes is over the gateway's \(limit)-byte limit"
        case .notConnected(let waited): "the shard was not ready within \(waited)"
        case .shardStopped: "the shard stopped"
        case .encodingFailed(let what): "the command could not be encoded: \(what)"
        }
    }
}

/// Where a shard's connection stands.
public enum ShardStatus: Sendable, Equatable, CustomStringConvertible {
    /// Not started yet.
    case idle
    /// Opening a socket (attempt counts reconnects since the last stable connection).
    case connecting(attempt: Int)
    /// Socket open; IDENTIFY sent or waiting to be sent, no READY yet.
    case identifying
    /// Socket open; RESUME sent, no RESUMED yet.
    case resuming
    /// READY or RESUMED received: events flow.
    case ready
    /// Between connections, waiting to reconnect, because of `reason`.
    case disconnected(reason: DisconnectReason)
    /// Stopped for good; `error` is nil when it was asked to stop.
    case stopped(error: ShardError?)

    public var description: String {
        switch self {
        case .idle: "idle"
        case .connecting(let attempt): "connecting (attempt \(attempt + 1))"
        case .identifying: "identifying"
        case .resuming: "resuming"
        case .ready: "ready"
        case .disconnected(let reason): "disconnected: \(reason)"
        case .stopped(let error): error.map { "stopped: \($0)" } ?? "stopped"
        }
    }
}

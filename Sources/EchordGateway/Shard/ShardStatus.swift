import EchordModels

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

/// Why a shard stopped for good.
public enum ShardError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The gateway closed with a code after which reconnecting cannot help (4004, 4010–4014).
    case fatalClose(GatewayCloseCode)
    /// The configuration cannot work (explained).
    case invalidConfiguration(String)

    public var description: String {
        switch self {
        case .fatalClose(let code): "gateway closed with \(code.rawValue) (\(code.name)): \(code.explanation)"
        case .invalidConfiguration(let what): "invalid configuration: \(what)"
        }
    }
}

/// What a shard needs to resume a session: readable, and restorable so that a new process can
/// resume instead of identifying.
public struct GatewaySession: Sendable, Codable, Equatable, Hashable {
    /// `session_id` from READY.
    public var sessionID: String
    /// The last sequence number received.
    public var sequence: Int
    /// `resume_gateway_url` from READY.
    public var resumeGatewayURL: String

    /// A session, for example one read back from your own storage.
    public init(sessionID: String, sequence: Int, resumeGatewayURL: String) {
        self.sessionID = sessionID
        self.sequence = sequence
        self.resumeGatewayURL = resumeGatewayURL
    }

    enum CodingKeys: String, CodingKey {
        case sessionID = "session_id", sequence = "seq", resumeGatewayURL = "resume_gateway_url"
    }
}

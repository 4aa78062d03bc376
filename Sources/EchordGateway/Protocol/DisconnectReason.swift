/// Why a shard's connection ended (or could not start), as the state machine decided it.
///
/// Carried by ``ShardStatus/disconnected(reason:)``, by
/// the state machine's reconnect action and, as ``metricLabel``, by the
/// `echord_gateway_reconnects_total{reason}` counter.
public enum DisconnectReason: Sendable, Equatable, CustomStringConvertible {
    /// No heartbeat ACK arrived before the next beat was due: the connection is a zombie.
    case zombie
    /// The gateway sent op 7 RECONNECT.
    case reconnectRequested
    /// The gateway sent op 9 INVALID_SESSION; `resumable` is its `d`.
    case invalidSession(resumable: Bool)
    /// The gateway closed the socket with a close frame carrying `code`.
    case serverClose(code: UInt16)
    /// The TCP connection ended without a close frame.
    case dropped
    /// No HELLO arrived within ``ShardConfiguration/helloTimeout``.
    case helloTimeout
    /// No READY (or RESUMED, when `resuming`) within ``ShardConfiguration/readyTimeout``.
    case readyTimeout(resuming: Bool)
    /// The transport could not open the socket or cannot go on with it.
    case transport(TransportFailure)
    /// The dispatch sequence broke on a live session; the shard resumes from the last contiguous
    /// `s`, so that the gateway's replay fills the hole.
    case sequenceBroken(SequenceBreak)

    /// The value of the `reason` dimension of `echord_gateway_reconnects_total`: a small fixed set.
    public var metricLabel: String {
        switch self {
        case .zombie: "zombie"
        case .reconnectRequested: "reconnect_opcode"
        case .invalidSession: "invalid_session"
        case .serverClose: "server_close"
        case .dropped: "dropped"
        case .helloTimeout, .readyTimeout: "timeout"
        case .transport(.connect): "connect_failed"
        case .transport: "transport"
        case .sequenceBroken: "sequence"
        }
    }

    public var description: String {
        switch self {
        case .zombie: "zombie connection: no heartbeat ACK"
        case .reconnectRequested: "op 7 reconnect"
        case .invalidSession(let resumable): "op 9 invalid session (\(resumable ? "resumable" : "not resumable"))"
        case .serverClose(let code): "closed with \(code)"
        case .dropped: "connection dropped"
        case .helloTimeout: "no HELLO in time"
        case .readyTimeout(let resuming): "no \(resuming ? "RESUMED" : "READY") in time"
        case .transport(let failure): "\(failure)"
        case .sequenceBroken(let broken): "\(broken)"
        }
    }
}

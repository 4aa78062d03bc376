/// What went wrong with the transport of one connection.
public enum TransportFailure: Sendable, Equatable, CustomStringConvertible {
    /// The socket could not be opened (TCP, TLS or the WebSocket upgrade).
    case connect(GatewayTransportError)
    /// The transport compression stream is corrupt or a message is too large once inflated.
    case decompression(String)
    /// A text frame (or a message inflated from the compression stream) is not valid UTF-8;
    /// the shard closes with 1007 (RFC 6455 §8.1) and resumes.
    case invalidUTF8
    /// HELLO or READY could not be read (explained); the connection cannot work.
    case unreadableMessage(String)

    public var description: String {
        switch self {
        case .connect(let error): "connect failed: \(error)"
        case .decompression(let what): "decompression failed: \(what)"
        case .invalidUTF8: "a text message was not valid UTF-8"
        case .unreadableMessage(let what): what
        }
    }
}

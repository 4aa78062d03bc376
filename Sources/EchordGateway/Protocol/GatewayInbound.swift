import EchordModels

/// One message from the gateway, decoded once: the envelope (`op`, `s`, `t`) scanned, and the few
/// fields of `d` the shard's protocol needs (HELLO's interval, READY's session, op 9's flag) read
/// with Echord's ``JSONReader``. Dispatch payloads stay bytes until the user asks for them.
enum GatewayInbound: Sendable {
    /// op 0, any event but READY.
    case dispatch(GatewayEnvelope)
    /// op 0 READY, with its session fields.
    case ready(GatewayEnvelope, sessionID: String, resumeGatewayURL: String)
    /// op 1: heartbeat now.
    case heartbeatRequest
    /// op 7.
    case reconnect
    /// op 9, with its `d`.
    case invalidSession(resumable: Bool)
    /// op 10, with a positive heartbeat interval.
    case hello(heartbeatInterval: Duration)
    /// op 11.
    case heartbeatAck
    /// An opcode a client does not receive (or one Echord does not know).
    case unexpected(GatewayOpcode)

    /// Why a message could not be read.
    enum DecodingError: Error, Equatable, CustomStringConvertible {
        /// The envelope is not a JSON object with an integer `op`.
        case envelope(GatewayDecodingError)
        /// HELLO's `d` has no positive `heartbeat_interval`.
        case hello(String)
        /// READY's `d` lacks a string `session_id` or `resume_gateway_url`.
        case ready(String)

        var description: String {
            switch self {
            case .envelope(let error): "\(error)"
            case .hello(let why): "HELLO without a usable heartbeat_interval: \(why)"
            case .ready(let why): "READY without a usable session_id / resume_gateway_url: \(why)"
            }
        }
    }

    /// A short description for trace logs (`op=0 t=MESSAGE_CREATE s=42`).
    var summary: String {
        switch self {
        case .dispatch(let envelope), .ready(let envelope, _, _):
            "op=0 t=\(envelope.eventName ?? "-") s=\(envelope.sequence.map(String.init) ?? "-")"
        case .heartbeatRequest: "op=1"
        case .reconnect: "op=7"
        case .invalidSession(let resumable): "op=9 d=\(resumable)"
        case .hello(let interval): "op=10 heartbeat_interval=\(interval)"
        case .heartbeatAck: "op=11"
        case .unexpected(let opcode): "op=\(opcode.rawValue)"
        }
    }

    private static let heartbeatIntervalKey = JSONReader.keyHash("heartbeat_interval")
    private static let sessionIDKey = JSONReader.keyHash("session_id")
    private static let resumeGatewayURLKey = JSONReader.keyHash("resume_gateway_url")

    /// Decodes one whole (inflated) gateway message.
    init(decoding bytes: [UInt8]) throws(DecodingError) {
        let envelope: GatewayEnvelope
        do {
            envelope = try GatewayEnvelope(scanning: bytes)
        } catch {
            throw .envelope(error)
        }
        try self.init(envelope)
    }

    /// Reads what the protocol needs from a scanned envelope.
    init(_ envelope: GatewayEnvelope) throws(DecodingError) {
        switch envelope.opcode {
        case .dispatch:
            guard envelope.eventName == "READY" else {
                self = .dispatch(envelope)
                return
            }
            do {
                let (id, url) = try Self.read(envelope.data) { reader in
                    var id: String?
                    var url: String?
                    var cursor = try reader.beginObject()
                    while let key = try reader.nextKey(&cursor) {
                        switch key {
                        case Self.sessionIDKey: id = try reader.readString()
                        case Self.resumeGatewayURLKey: url = try reader.readString()
                        default: try reader.skipValue()
                        }
                    }
                    return (id, url)
                }
                guard let id, let url else { throw DecodingError.ready("a field is missing") }
                self = .ready(envelope, sessionID: id, resumeGatewayURL: url)
            } catch let error as DecodingError {
                throw error
            } catch {
                throw .ready("\(error)")
            }
        case .heartbeat:
            self = .heartbeatRequest
        case .reconnect:
            self = .reconnect
        case .invalidSession:
            // `d` is a boolean; anything else cannot promise a resumable session.
            let resumable = (try? Self.read(envelope.data) { try $0.readBool() }) ?? false
            self = .invalidSession(resumable: resumable)
        case .hello:
            let interval: Int?
            do {
                interval = try Self.read(envelope.data) { reader in
                    var interval: Int?
                    var cursor = try reader.beginObject()
                    while let key = try reader.nextKey(&cursor) {
                        if key == Self.heartbeatIntervalKey { interval = try reader.readInt() } else { try reader.skipValue() }
                    }
                    return interval
                }
            } catch {
                throw .hello("\(error)")
            }
            guard let interval, interval > 0 else { throw .hello("missing or not positive") }
            self = .hello(heartbeatInterval: .milliseconds(interval))
        case .heartbeatAck:
            self = .heartbeatAck
        default:
            self = .unexpected(envelope.opcode)
        }
    }

    private static func read<T>(_ data: ArraySlice<UInt8>, _ body: (inout JSONReader) throws -> T) throws -> T {
        try data.withUnsafeBytes { try JSONReader.withReader($0, body) }
    }
}

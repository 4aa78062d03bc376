/// A gateway frame: the envelope `{op, d, s, t}` around every message in both directions (spec §2).
///
/// `Data` is the type of `d`, for example ``Hello`` for op 10, ``Identify`` for op 2, `Int` for a
/// heartbeat, `Bool` for Invalid Session, or ``JSONValue`` to decode the envelope first and the
/// body later.
///
/// Encoding always writes `op` and `d` (`d` as `null` when ``data`` is nil) and writes `s` and `t`
/// only when they are non-nil, since clients only send `op` and `d`. Decoding accepts a missing or
/// `null` `d`, `s` and `t` and ignores unknown keys.
public struct GatewayPayload<Data>: Sendable where Data: Sendable {
    /// The opcode (`op`).
    public var opcode: GatewayOpcode
    /// The body (`d`); nil when absent or `null`.
    public var data: Data?
    /// The sequence number (`s`); only set on dispatches (op 0).
    public var sequence: Int?
    /// The event name (`t`); only set on dispatches (op 0).
    public var eventName: String?

    /// Creates a frame.
    ///
    /// - Parameters:
    ///   - opcode: The opcode.
    ///   - data: The body, or nil for `"d": null`.
    ///   - sequence: The dispatch sequence number, for frames the server sends.
    ///   - eventName: The dispatch event name, for frames the server sends.
    public init(opcode: GatewayOpcode, data: Data? = nil, sequence: Int? = nil, eventName: String? = nil) {
        self.opcode = opcode
        self.data = data
        self.sequence = sequence
        self.eventName = eventName
    }
}

extension GatewayPayload: Equatable where Data: Equatable {}
extension GatewayPayload: Hashable where Data: Hashable {}

/// The envelope's wire keys.
private enum GatewayPayloadCodingKeys: String, CodingKey {
    case opcode = "op"
    case data = "d"
    case sequence = "s"
    case eventName = "t"
}

extension GatewayPayload: Decodable where Data: Decodable {
    /// Decodes an envelope; `d`, `s` and `t` may be missing or `null`.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: GatewayPayloadCodingKeys.self)
        self.opcode = try container.decode(GatewayOpcode.self, forKey: .opcode)
        self.data = try container.decodeIfPresent(Data.self, forKey: .data)
        self.sequence = try container.decodeIfPresent(Int.self, forKey: .sequence)
        self.eventName = try container.decodeIfPresent(String.self, forKey: .eventName)
    }
}

extension GatewayPayload: Encodable where Data: Encodable {
    /// Encodes `op` and `d` (`null` when nil) always, `s` and `t` only when non-nil.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: GatewayPayloadCodingKeys.self)
        try container.encode(opcode, forKey: .opcode)
        if let data {
            try container.encode(data, forKey: .data)
        } else {
            try container.encodeNil(forKey: .data)
        }
        try container.encodeIfPresent(sequence, forKey: .sequence)
        try container.encodeIfPresent(eventName, forKey: .eventName)
    }
}

import EchordModels
import Foundation

/// One dispatch (op 0) as a shard received it: its name and sequence number read, its payload kept
/// as bytes until asked for.
public struct GatewayDispatch: Sendable {
    /// The shard that received it.
    public let shardID: Int
    /// `t`, the event name (`MESSAGE_CREATE`, or a name Echord does not know).
    public var name: String { envelope.eventName ?? "" }
    /// `s`, the sequence number.
    public var sequence: Int? { envelope.sequence }
    let envelope: GatewayEnvelope

    init(shardID: Int, envelope: GatewayEnvelope) {
        self.shardID = shardID
        self.envelope = envelope
    }

    /// The raw JSON of `d`.
    public var data: ArraySlice<UInt8> { envelope.data }
    /// The whole message as received (after decompression).
    public var rawMessage: [UInt8] { envelope.bytes }

    /// The typed event, decoded from `d` by Echord's fast reader on each call. Never throws: a name
    /// Echord does not know gives `GatewayEvent.unknown(name:data:)` and a payload that does not
    /// decode gives `GatewayEvent.failed(_:)`, both with the raw bytes.
    public var event: GatewayEvent { envelope.event }

    /// The kind (looked up once, when the dispatch arrived), nil for a name Echord does not know.
    public var kind: GatewayEventKind? { envelope.eventKind }

    /// Reads `d` as `type` with Echord's fast reader (any `JSONReadable` model).
    public func read<T: JSONReadable>(_ type: T.Type) throws -> T {
        try T(jsonBytes: data)
    }

    /// Decodes `d` as `type` with Foundation's `JSONDecoder` (for your own `Decodable` types).
    public func decode<T: Decodable>(_ type: T.Type) throws -> T {
        try JSONDecoder().decode(T.self, from: Data(data))
    }
}

import EchordModels
import Foundation

/// Encodes what clients send.
public enum GatewayCodec {
    /// The largest frame Discord accepts from a client.
    public static let maxClientFrameSize = 4096

    /// `{"op":N,"d":…}` with a size check.
    public static func encode<Body: Encodable & Sendable>(_ opcode: GatewayOpcode, _ body: Body) throws -> [UInt8] {
        let payload = GatewayPayload(opcode: opcode, data: body)
        let bytes: [UInt8]
        do {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.withoutEscapingSlashes]
            bytes = [UInt8](try encoder.encode(payload))
        } catch {
            throw GatewayCommandError.encodingFailed("\(error)")
        }
        guard bytes.count <= maxClientFrameSize else {
            throw GatewayCommandError.tooLarge(size: bytes.count, limit: maxClientFrameSize)
        }
        return bytes
    }

    /// A heartbeat: `{"op":1,"d":seq}`.
    public static func heartbeat(sequence: Int?) -> [UInt8] {
        Array("{\"op\":1,\"d\":\(sequence.map(String.init) ?? "null")}".utf8)
    }
}

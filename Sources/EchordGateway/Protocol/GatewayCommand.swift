import EchordModels
import Foundation

/// A command a bot sends through a shard.
public enum GatewayCommand: Sendable, Equatable {
    /// op 3: change the bot's presence.
    case updatePresence(PresenceUpdate)
    /// op 4: join, move or leave voice.
    case updateVoiceState(VoiceStateUpdate)
    /// op 8: ask for guild members (answered with GUILD_MEMBERS_CHUNK dispatches).
    case requestGuildMembers(RequestGuildMembers)
    /// op 31: ask for soundboard sounds (answered with SOUNDBOARD_SOUNDS).
    case requestSoundboardSounds(RequestSoundboardSounds)
    /// op 43: ask for ephemeral channel data (answered with CHANNEL_INFO).
    case requestChannelInfo(RequestChannelInfo)

    /// The opcode the command is sent with.
    public var opcode: GatewayOpcode {
        switch self {
        case .updatePresence: .presenceUpdate
        case .updateVoiceState: .voiceStateUpdate
        case .requestGuildMembers: .requestGuildMembers
        case .requestSoundboardSounds: .requestSoundboardSounds
        case .requestChannelInfo: .requestChannelInfo
        }
    }

    /// The guild the command is about, which decides its shard; nil for presence updates, which go
    /// to every shard.
    public var guildID: Snowflake? {
        switch self {
        case .updatePresence, .requestSoundboardSounds: nil
        case .updateVoiceState(let update): update.guildID
        case .requestGuildMembers(let request): request.guildID
        case .requestChannelInfo(let request): request.guildID
        }
    }

    /// The command as it goes on the wire.
    ///
    /// - Throws: ``GatewayCommandError/tooLarge(size:limit:)`` past 4096 bytes.
    public func encoded() throws -> [UInt8] {
        let bytes: [UInt8]
        switch self {
        case .updatePresence(let body): bytes = try GatewayCodec.encode(opcode, body)
        case .updateVoiceState(let body): bytes = try GatewayCodec.encode(opcode, body)
        case .requestGuildMembers(let body): bytes = try GatewayCodec.encode(opcode, body)
        case .requestSoundboardSounds(let body): bytes = try GatewayCodec.encode(opcode, body)
        case .requestChannelInfo(let body): bytes = try GatewayCodec.encode(opcode, body)
        }
        return bytes
    }
}

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

import EchordModels

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

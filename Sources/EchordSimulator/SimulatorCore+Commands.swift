import EchordModels
import Foundation

extension SimulatorCore {
    /// A command from an identified client (op 3, 4, 8, 31, 43).
    func command(_ opcode: GatewayOpcode, message: [UInt8], session: SimulatedSession, on conn: SimulatedConnection) {
        switch opcode {
        case .presenceUpdate:
            _ = decodeCommand(PresenceUpdate.self, message, on: conn)
        case .voiceStateUpdate:
            guard let update = decodeCommand(VoiceStateRequest.self, message, on: conn) else { return }
            voiceStateUpdate(update, session: session)
        case .requestGuildMembers:
            guard let request = decodeCommand(RequestGuildMembers.self, message, on: conn) else { return }
            requestGuildMembers(request, session: session, on: conn)
        case .requestSoundboardSounds:
            guard let request = decodeCommand(SoundboardRequest.self, message, on: conn) else { return }
            for guildID in request.guildIDs where servedGuild(guildID, session: session) != nil {
                dispatch("SOUNDBOARD_SOUNDS", json: .object([
                    ("soundboard_sounds", []), ("guild_id", .string(guildID.description)),
                ]), to: session)
            }
        case .requestChannelInfo:
            guard let request = decodeCommand(ChannelInfoRequest.self, message, on: conn) else { return }
            guard let guild = servedGuild(request.guildID, session: session) else { return }
            dispatch("CHANNEL_INFO", json: .object([
                ("guild_id", .string(guild.id.description)),
                ("channels", [.object([
                    ("id", .string(guild.voiceChannelID.description)), ("status", nil), ("voice_start_time", nil),
                ])]),
            ]), to: session)
        default:
            violation("op \(opcode.rawValue) is not a command", on: conn, close: 4001)
        }
    }

    private func decodeCommand<T: Decodable>(_ type: T.Type, _ message: [UInt8], on conn: SimulatedConnection) -> T? {
        do {
            guard let data = try decoder.decode(ClientPayload<T>.self, from: Data(message)).d else {
                violation("\(T.self) with d null", on: conn, close: 4001)
                return nil
            }
            return data
        } catch {
            violation("invalid \(T.self) payload: \(Self.clipped(Self.describe(error), to: 200))", on: conn, close: 4001,
                      reason: "Invalid \(T.self) payload")
            return nil
        }
    }

    /// The guild, if the session's shard serves it.
    func servedGuild(_ id: Snowflake, session: SimulatedSession) -> SimulatedGuild? {
        guard let guild = world.guild(id: id), id.shardIndex(shardCount: session.shardCount) == session.shardID
        else { return nil }
        return guild
    }

    private func voiceStateUpdate(_ update: VoiceStateRequest, session: SimulatedSession) {
        guard let guild = servedGuild(update.guildID, session: session) else { return }
        var state: [(String, SimulatorJSON)] = [
            ("guild_id", .string(guild.id.description)), ("channel_id", .optional(update.channelID?.description)),
            ("user_id", .string(session.botUserID.description)),
            ("member", SimulatorWorld.memberObject(
                user: SimulatorWorld.userObject(id: session.botUserID, username: "echord-sim-bot", bot: true), roles: [])),
            ("session_id", .string(session.id)), ("deaf", false), ("mute", false),
            ("self_deaf", .bool(update.selfDeaf ?? false)), ("self_mute", .bool(update.selfMute ?? false)),
            ("self_video", false), ("suppress", false), ("request_to_speak_timestamp", nil),
        ]
        state.insert(("self_stream", false), at: state.count - 2)
        dispatch("VOICE_STATE_UPDATE", json: .object(state), to: session)
        if update.channelID != nil {
            dispatch("VOICE_SERVER_UPDATE", json: .object([
                ("token", "sim-voice-token"), ("guild_id", .string(guild.id.description)),
                ("endpoint", .string("127.0.0.1:\(port)")),
            ]), to: session)
        }
    }

    // MARK: Request Guild Members

    private func requestGuildMembers(_ request: RequestGuildMembers, session: SimulatedSession, on conn: SimulatedConnection) {
        guard request.query != nil || request.userIDs != nil else {
            violation("REQUEST_GUILD_MEMBERS needs query or user_ids", on: conn, close: 4001)
            return
        }
        if let nonce = request.nonce, nonce.utf8.count > 32 {
            record(.violation(rule: "nonce longer than 32 bytes is dropped", closeCode: nil), connection: conn)
        }
        let nonce = request.nonce.flatMap { $0.utf8.count <= 32 ? $0 : nil }
        guard let guild = servedGuild(request.guildID, session: session) else {
            record(.violation(rule: "REQUEST_GUILD_MEMBERS for guild \(request.guildID) not on this shard",
                              closeCode: nil), connection: conn)
            return
        }
        let allMembers = request.userIDs == nil && (request.query ?? "") == "" && (request.limit ?? 0) == 0
        if allMembers {
            guard session.intents.contains(.guildMembers) else {
                record(.violation(rule: "all-members request without GUILD_MEMBERS", closeCode: nil), connection: conn)
                return
            }
            let key = GuildBotKey(botUserID: session.botUserID, guildID: guild.id)
            let window = Self.ms(configuration.allMembersRateLimitMilliseconds)
            if let last = allMembersRequests[key], now - last < window {
                let retryAfter = Double(window - (now - last)) / 1e9
                record(.violation(rule: "all-members request for \(guild.id) within the rate limit", closeCode: nil),
                       connection: conn)
                dispatch("RATE_LIMITED", json: .object([
                    ("opcode", 8), ("retry_after", .double((retryAfter * 1000).rounded() / 1000)),
                    ("meta", .object([("guild_id", .string(guild.id.description))] + (nonce.map { [("nonce", .string($0))] } ?? []))),
                ]), to: session)
                return
            }
            allMembersRequests[key] = now
        }
        let presences = request.presences == true
        if presences && !session.intents.contains(.guildPresences) {
            record(.violation(rule: "presences requested without GUILD_PRESENCES", closeCode: nil), connection: conn)
        }
        var members: [Int] = []  // user indexes; -1 is the bot
        var notFound: [Snowflake] = []
        if let ids = request.userIDs {
            for id in ids.prefix(100) {
                if id == session.botUserID {
                    members.append(-1)
                } else if let index = SimulatorWorld.userIndex(of: id), index < guild.memberCount {
                    members.append(index)
                } else {
                    notFound.append(id)
                }
            }
        } else {
            let query = (request.query ?? "").lowercased()
            let limit = allMembers ? Int.max : min(max(request.limit ?? 0, 0) == 0 ? 100 : request.limit!, 100)
            if "echord-sim-bot".hasPrefix(query) { members.append(-1) }
            for index in 0..<guild.memberCount where members.count < limit {
                if query.isEmpty || SimulatorWorld.username(index).hasPrefix(query) { members.append(index) }
            }
            if members.count > limit { members.removeLast(members.count - limit) }
        }
        let perChunk = max(1, min(configuration.membersPerChunk, 1000))
        let chunkCount = max(1, (members.count + perChunk - 1) / perChunk)
        for chunkIndex in 0..<chunkCount {
            let slice = members.dropFirst(chunkIndex * perChunk).prefix(perChunk)
            var fields: [(String, SimulatorJSON)] = [
                ("guild_id", .string(guild.id.description)),
                ("members", .array(slice.map { index in
                    index < 0
                        ? SimulatorWorld.memberObject(
                            user: SimulatorWorld.userObject(id: session.botUserID, username: "echord-sim-bot", bot: true),
                            roles: [])
                        : world.member(guild: guild, userIndex: index)
                })),
                ("chunk_index", .int(Int64(chunkIndex))), ("chunk_count", .int(Int64(chunkCount))),
            ]
            if chunkIndex == 0 && request.userIDs != nil { fields.append(("not_found", .array(notFound.map { .string($0.description) }))) }
            if presences && session.intents.contains(.guildPresences) {
                fields.append(("presences", .array(slice.filter { $0 >= 0 }.map {
                    world.presence(guild: guild, userIndex: $0, status: $0 % 3 == 0 ? "online" : "idle")
                })))
            }
            if let nonce { fields.append(("nonce", .string(nonce))) }
            dispatch("GUILD_MEMBERS_CHUNK", json: .object(fields), to: session)
        }
    }
}

/// Update Voice State (op 4) as the simulator reads it.
struct VoiceStateRequest: Decodable {
    let guildID: Snowflake
    let channelID: Snowflake?
    let selfMute: Bool?
    let selfDeaf: Bool?
    enum CodingKeys: String, CodingKey {
        case guildID = "guild_id", channelID = "channel_id", selfMute = "self_mute", selfDeaf = "self_deaf"
    }
}

/// Request Soundboard Sounds (op 31) as the simulator reads it.
struct SoundboardRequest: Decodable {
    let guildIDs: [Snowflake]
    enum CodingKeys: String, CodingKey { case guildIDs = "guild_ids" }
}

/// Request Channel Info (op 43) as the simulator reads it.
struct ChannelInfoRequest: Decodable {
    let guildID: Snowflake
    let fields: [String]?
    enum CodingKeys: String, CodingKey { case guildID = "guild_id", fields }
}

import EchordModels

/// One guild of the simulated world. Members are users `0..<memberCount` of the world.
///
/// Besides its text channels (the ones traffic goes to), a guild has one channel of every other
/// type Discord has, and three active threads, so GUILD_CREATE shows every kind of channel.
struct SimulatedGuild {
    let index: Int
    let id: Snowflake
    let name: String
    let categoryID: Snowflake
    let textChannelIDs: [Snowflake]
    let voiceChannelID: Snowflake
    let memberCount: Int
    let moderatorRoleID: Snowflake
    let announcementChannelID: Snowflake
    let stageChannelID: Snowflake
    let forumChannelID: Snowflake
    let mediaChannelID: Snowflake
    let directoryChannelID: Snowflake
    /// A public thread and a private thread in the first text channel, an announcement thread.
    let publicThreadID: Snowflake
    let privateThreadID: Snowflake
    let announcementThreadID: Snowflake
    /// A post (a public thread) in the forum channel, with one of its tags.
    let forumPostID: Snowflake
    let forumTagID: Snowflake
}

/// The guilds, channels and users every bot connected to the simulator sees, with the builders of
/// the objects Discord sends for them: every key Discord documents for the object, an optional one
/// (`name?` in Discord's tables) only when it has a value, a nullable one (`?type`) as a value or
/// `null`, and no undocumented keys (the tests check each payload with `PayloadValidator`).
final class SimulatorWorld {
    let configuration: WorldConfiguration
    let guilds: [SimulatedGuild]
    private let guildIndexByID: [Snowflake: Int]

    /// Snowflakes of the world start at 2020-01-01 and advance one millisecond per object, so
    /// consecutive guilds fall on consecutive shards.
    static let epochMilliseconds: UInt64 = 1_577_836_800_000

    init(configuration: WorldConfiguration) {
        self.configuration = configuration
        var guilds: [SimulatedGuild] = []
        let channels = max(configuration.textChannelsPerGuild, 1)
        for g in 0..<configuration.guildCount {
            let base = Self.epochMilliseconds + UInt64(g)
            func id(_ worker: UInt8, _ n: Int) -> Snowflake {
                Snowflake(timestampMilliseconds: base, workerID: worker, processID: 0, increment: UInt16(n))
            }
            guilds.append(
                SimulatedGuild(
                    index: g, id: id(0, 0), name: "Echord Test Guild \(g)", categoryID: id(1, 0),
                    textChannelIDs: (0..<channels).map { id(2, $0) }, voiceChannelID: id(3, 0),
                    memberCount: configuration.membersPerGuild, moderatorRoleID: id(4, 0),
                    announcementChannelID: id(6, 0), stageChannelID: id(6, 1), forumChannelID: id(6, 2),
                    mediaChannelID: id(6, 3), directoryChannelID: id(6, 4), publicThreadID: id(8, 0),
                    privateThreadID: id(8, 1), announcementThreadID: id(8, 2), forumPostID: id(8, 3),
                    forumTagID: id(9, 0)))
        }
        self.guilds = guilds
        self.guildIndexByID = Dictionary(uniqueKeysWithValues: guilds.map { ($0.id, $0.index) })
    }

    func guild(id: Snowflake) -> SimulatedGuild? { guildIndexByID[id].map { guilds[$0] } }

    /// The guilds a shard `[shardID, shardCount]` serves.
    func guilds(shardID: Int, shardCount: Int) -> [SimulatedGuild] {
        guilds.filter { $0.id.shardIndex(shardCount: shardCount) == shardID }
    }

    func guildCount(shardID: Int, shardCount: Int) -> Int {
        guilds.reduce(0) { $0 + ($1.id.shardIndex(shardCount: shardCount) == shardID ? 1 : 0) }
    }

    // MARK: Users

    static func userID(_ index: Int) -> Snowflake {
        Snowflake(timestampMilliseconds: epochMilliseconds + 100_000 + UInt64(index), workerID: 5)
    }

    static func userIndex(of id: Snowflake) -> Int? {
        let ms = id.timestampMilliseconds
        guard ms >= epochMilliseconds + 100_000, id == userID(Int(ms - epochMilliseconds - 100_000)) else { return nil }
        return Int(ms - epochMilliseconds - 100_000)
    }

    static func username(_ index: Int) -> String { "user\(index)" }

    /// A user object as it appears in messages and members.
    func user(index: Int) -> SimulatorJSON {
        Self.userObject(id: Self.userID(index), username: Self.username(index), bot: false)
    }

    static func userObject(id: Snowflake, username: String, bot: Bool) -> SimulatorJSON {
        var fields: [(String, SimulatorJSON)] = [
            ("id", .string(id.description)), ("username", .string(username)), ("discriminator", "0"),
            ("global_name", bot ? .null : .string(username.capitalized)), ("avatar", nil),
            ("avatar_decoration_data", nil), ("banner", nil), ("accent_color", nil),
            ("public_flags", 0), ("flags", 0), ("collectibles", nil), ("primary_guild", nil),
        ]
        if bot { fields.append(("bot", true)) }
        return .object(fields)
    }

    /// The bot user as READY and `GET /users/@me` show it.
    static func botUser(id: Snowflake) -> SimulatorJSON {
        .object([
            ("id", .string(id.description)), ("username", "echord-sim-bot"), ("discriminator", "0"),
            ("global_name", nil), ("avatar", nil), ("avatar_decoration_data", nil), ("banner", nil),
            ("accent_color", nil), ("bot", true), ("system", false), ("mfa_enabled", false),
            ("locale", "en-US"), ("verified", true), ("email", nil), ("flags", 0), ("premium_type", 0),
            ("public_flags", 0), ("collectibles", nil), ("primary_guild", nil),
        ])
    }

    // MARK: Guild objects

    static let joinedAt = "2024-01-01T00:00:00.000000+00:00"

    func member(guild: SimulatedGuild, userIndex: Int, withUser: Bool = true) -> SimulatorJSON {
        Self.memberObject(
            user: withUser ? user(index: userIndex) : SimulatorJSON?.none,  // not `nil`: that would be SimulatorJSON.null
            roles: userIndex % 5 == 0 ? [guild.moderatorRoleID] : [])
    }

    static func memberObject(user: SimulatorJSON?, roles: [Snowflake]) -> SimulatorJSON {
        var fields: [(String, SimulatorJSON)] = []
        if let user { fields.append(("user", user)) }
        fields += [
            ("nick", nil), ("avatar", nil), ("banner", nil),
            ("roles", .array(roles.map { .string($0.description) })), ("joined_at", .string(joinedAt)),
            ("premium_since", nil), ("deaf", false), ("mute", false), ("flags", 0), ("pending", false),
            ("communication_disabled_until", nil), ("avatar_decoration_data", nil),
        ]
        return .object(fields)
    }

    private func role(id: Snowflake, name: String, position: Int, permissions: String) -> SimulatorJSON {
        .object([
            ("id", .string(id.description)), ("name", .string(name)), ("color", 0),
            ("colors", .object([("primary_color", 0), ("secondary_color", nil), ("tertiary_color", nil)])),
            ("hoist", false), ("icon", nil), ("unicode_emoji", nil), ("position", .int(Int64(position))),
            ("permissions", .string(permissions)), ("managed", false), ("mentionable", false), ("flags", 0),
        ])
    }

    /// The guild object's own fields (GUILD_UPDATE and the first part of GUILD_CREATE).
    func guildFields(_ guild: SimulatedGuild) -> [(String, SimulatorJSON)] {
        [
            ("id", .string(guild.id.description)), ("name", .string(guild.name)), ("icon", nil), ("icon_hash", nil),
            ("splash", nil), ("discovery_splash", nil), ("owner_id", .string(Self.userID(0).description)),
            ("region", nil), ("afk_channel_id", nil), ("afk_timeout", 300), ("widget_enabled", false),
            ("widget_channel_id", nil), ("verification_level", 1), ("default_message_notifications", 1),
            ("explicit_content_filter", 0),
            ("roles", [
                role(id: guild.id, name: "@everyone", position: 0, permissions: "2248473465835073"),
                role(id: guild.moderatorRoleID, name: "Moderator", position: 1, permissions: "1099511627775"),
            ]),
            ("emojis", []), ("features", []), ("mfa_level", 0), ("application_id", nil),
            ("system_channel_id", .string(guild.textChannelIDs[0].description)), ("system_channel_flags", 0),
            ("rules_channel_id", nil), ("max_presences", nil), ("max_members", 500_000), ("vanity_url_code", nil),
            ("description", nil), ("banner", nil), ("premium_tier", 0), ("premium_subscription_count", 0),
            ("preferred_locale", "en-US"), ("public_updates_channel_id", nil), ("max_video_channel_users", 25),
            ("max_stage_video_channel_users", 50), ("nsfw_level", 0), ("stickers", []),
            ("premium_progress_bar_enabled", false), ("safety_alerts_channel_id", nil), ("incidents_data", nil),
        ]
    }

    /// The full GUILD_CREATE `d` for a bot, following Discord's rules on which members and
    /// presences it carries: all of them when the bot has GUILD_PRESENCES and the guild is not
    /// large, else only the bot itself.
    func guildCreate(
        _ guild: SimulatedGuild, botUserID: Snowflake, intents: GatewayIntents, largeThreshold: Int
    ) -> SimulatorJSON {
        let total = guild.memberCount + 1
        let large = total > largeThreshold
        let botMember = Self.memberObject(
            user: Self.userObject(id: botUserID, username: "echord-sim-bot", bot: true), roles: [])
        var members = [botMember]
        var presences: [SimulatorJSON] = []
        if intents.contains(.guildPresences) && !large {
            for i in 0..<guild.memberCount {
                members.append(member(guild: guild, userIndex: i))
                presences.append(presence(guild: guild, userIndex: i, status: i % 3 == 0 ? "online" : "idle"))
            }
        }
        var fields = guildFields(guild)
        fields += [
            ("joined_at", .string(Self.joinedAt)), ("large", .bool(large)), ("unavailable", false),
            ("member_count", .int(Int64(total))), ("voice_states", []), ("members", .array(members)),
            ("channels", .array(channels(of: guild, includeGuildID: false))),
            ("threads", .array(threads(of: guild, botUserID: botUserID))),
            ("presences", .array(presences)), ("stage_instances", []), ("guild_scheduled_events", []),
            ("soundboard_sounds", []),
        ]
        return .object(fields)
    }

    func presence(guild: SimulatedGuild, userIndex: Int, status: String) -> SimulatorJSON {
        .object([
            ("user", .object([("id", .string(Self.userID(userIndex).description))])),
            ("guild_id", .string(guild.id.description)), ("status", .string(status)),
            ("activities", .array(userIndex % 4 == 0 ? [
                .object([("name", "Echord"), ("type", 0), ("created_at", 1_700_000_000_000)]),
            ] : [])),
            ("client_status", .object([("desktop", .string(status))])),
        ])
    }

    // MARK: Messages

    /// A complete MESSAGE_CREATE `d`, as Discord sends it for a guild text channel.
    func messageCreate(
        id: Snowflake, guild: SimulatedGuild, channelIndex: Int, authorIndex: Int, content: String,
        includeContent: Bool
    ) -> SimulatorJSON {
        let channelID = guild.textChannelIDs[channelIndex % guild.textChannelIDs.count]
        return .object([
            ("type", 0), ("tts", false), ("timestamp", .string(Self.isoTimestamp(milliseconds: id.timestampMilliseconds))),
            ("pinned", false), ("nonce", .string(String(id.rawValue))), ("mentions", []), ("mention_roles", []),
            ("mention_everyone", false),
            ("member", member(guild: guild, userIndex: authorIndex, withUser: false)),
            ("id", .string(id.description)), ("flags", 0), ("embeds", []), ("edited_timestamp", nil),
            ("content", .string(includeContent ? content : "")), ("components", []),
            ("channel_id", .string(channelID.description)), ("author", user(index: authorIndex)),
            ("attachments", []), ("guild_id", .string(guild.id.description)),
        ])
    }

    /// Formats Unix milliseconds as Discord's ISO 8601 timestamps (`2020-01-01T00:00:00.000000+00:00`).
    static func isoTimestamp(milliseconds: UInt64) -> String {
        let seconds = Int64(milliseconds / 1000)
        let millis = Int(milliseconds % 1000)
        let days = seconds / 86_400
        let secondOfDay = Int(seconds % 86_400)
        // Civil-from-days (Howard Hinnant).
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = Int(doy - (153 * mp + 2) / 5 + 1)
        let month = Int(mp < 10 ? mp + 3 : mp - 9)
        let year = Int(yoe + era * 400) + (month <= 2 ? 1 : 0)
        func pad(_ v: Int, _ width: Int) -> String {
            let s = String(v)
            return String(repeating: "0", count: max(0, width - s.count)) + s
        }
        return "\(pad(year, 4))-\(pad(month, 2))-\(pad(day, 2))T\(pad(secondOfDay / 3600, 2)):"
            + "\(pad(secondOfDay / 60 % 60, 2)):\(pad(secondOfDay % 60, 2)).\(pad(millis, 3))000+00:00"
    }
}

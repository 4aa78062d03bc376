import EchordModels

/// The channels and threads of a simulated guild, with the keys Discord sends for each type
/// (https://discord.com/developers/docs/resources/channel#channel-object).
extension SimulatorWorld {
    /// The channels of a guild, one of every type; GUILD_CREATE omits their `guild_id`, as Discord does.
    func channels(of guild: SimulatedGuild, includeGuildID: Bool) -> [SimulatorJSON] {
        let gid = includeGuildID ? guild.id : nil
        var out = [
            Self.guildChannel(id: guild.categoryID, type: .guildCategory, name: "Text Channels", position: 0, parent: nil, guildID: gid),
        ]
        for (i, id) in guild.textChannelIDs.enumerated() {
            out.append(Self.guildChannel(
                id: id, type: .guildText, name: i == 0 ? "general" : "channel-\(i)", position: i, parent: guild.categoryID,
                guildID: gid))
        }
        out += [
            Self.guildChannel(id: guild.voiceChannelID, type: .guildVoice, name: "Voice", position: 0, parent: nil, guildID: gid),
            Self.guildChannel(
                id: guild.announcementChannelID, type: .guildAnnouncement, name: "announcements", position: guild.textChannelIDs.count,
                parent: guild.categoryID, guildID: gid),
            Self.guildChannel(id: guild.stageChannelID, type: .guildStageVoice, name: "Stage", position: 1, parent: nil, guildID: gid),
            Self.guildChannel(
                id: guild.forumChannelID, type: .guildForum, name: "forum", position: guild.textChannelIDs.count + 1, parent: nil,
                guildID: gid, tagID: guild.forumTagID),
            Self.guildChannel(
                id: guild.mediaChannelID, type: .guildMedia, name: "media", position: guild.textChannelIDs.count + 2, parent: nil,
                guildID: gid, tagID: guild.forumTagID),
            Self.guildChannel(
                id: guild.directoryChannelID, type: .guildDirectory, name: "directory", position: guild.textChannelIDs.count + 3,
                parent: nil, guildID: gid),
        ]
        return out
    }

    /// The guild's active threads, as GUILD_CREATE lists them (without `guild_id`): a public and a
    /// private thread in the first text channel (the bot is a member of the private one), an
    /// announcement thread, and a forum post with a tag.
    func threads(of guild: SimulatedGuild, botUserID: Snowflake) -> [SimulatorJSON] {
        let owner = Self.userID(0)
        return [
            Self.thread(id: guild.publicThreadID, type: .publicThread, name: "public thread", parent: guild.textChannelIDs[0], owner: owner),
            Self.thread(
                id: guild.privateThreadID, type: .privateThread, name: "private thread", parent: guild.textChannelIDs[0], owner: owner,
                botMember: true),
            Self.thread(
                id: guild.announcementThreadID, type: .announcementThread, name: "announcement thread",
                parent: guild.announcementChannelID, owner: owner),
            Self.thread(
                id: guild.forumPostID, type: .publicThread, name: "forum post", parent: guild.forumChannelID, owner: owner,
                appliedTag: guild.forumTagID),
        ]
    }

    /// A guild channel of `type` with the keys Discord sends for that type.
    static func guildChannel(
        id: Snowflake, type: ChannelType, name: String, position: Int, parent: Snowflake?, guildID: Snowflake?,
        tagID: Snowflake? = nil
    ) -> SimulatorJSON {
        var fields: [(String, SimulatorJSON)] = [("id", .string(id.description)), ("type", .int(Int64(type.rawValue)))]
        if let guildID { fields.append(("guild_id", .string(guildID.description))) }
        fields += [
            ("position", .int(Int64(position))), ("permission_overwrites", []), ("name", .string(name)),
            ("nsfw", false), ("parent_id", .optional(parent?.description)), ("flags", 0),
        ]
        switch type {
        case .guildText, .guildAnnouncement:
            fields += [
                ("topic", nil), ("last_message_id", nil), ("rate_limit_per_user", 0), ("last_pin_timestamp", nil),
            ]
            // Optional (`default_auto_archive_duration?`): sent only when set.
            if type == .guildAnnouncement { fields.append(("default_auto_archive_duration", 4320)) }
        case .guildVoice, .guildStageVoice:
            fields += [
                ("last_message_id", nil), ("bitrate", 64000), ("user_limit", type == .guildStageVoice ? 10_000 : 0),
                ("rtc_region", nil), ("rate_limit_per_user", 0),
            ]
            if type == .guildStageVoice { fields.append(("topic", nil)) } else { fields.append(("video_quality_mode", 1)) }
        case .guildForum, .guildMedia:
            fields += [
                ("topic", nil), ("last_message_id", nil), ("rate_limit_per_user", 0), ("default_auto_archive_duration", 1440),
                ("available_tags", [.object([
                    ("id", .string((tagID ?? id).description)), ("name", "question"), ("moderated", false),
                    ("emoji_id", nil), ("emoji_name", "❓"),
                ])]),
                ("default_reaction_emoji", nil), ("default_thread_rate_limit_per_user", 0), ("default_sort_order", nil),
            ]
            if type == .guildForum { fields.append(("default_forum_layout", 0)) }
        default:
            break
        }
        return .object(fields)
    }

    /// An active thread as GUILD_CREATE lists it; `botMember` adds the bot's thread member (without
    /// `id` and `user_id`, as in GUILD_CREATE).
    static func thread(
        id: Snowflake, type: ChannelType, name: String, parent: Snowflake, owner: Snowflake, botMember: Bool = false,
        appliedTag: Snowflake? = nil
    ) -> SimulatorJSON {
        let created = isoTimestamp(milliseconds: id.timestampMilliseconds)
        var metadata: [(String, SimulatorJSON)] = [
            ("archived", false), ("auto_archive_duration", 1440), ("archive_timestamp", .string(created)),
            ("locked", false), ("create_timestamp", .string(created)),
        ]
        if type == .privateThread { metadata.append(("invitable", true)) }
        var fields: [(String, SimulatorJSON)] = [
            ("id", .string(id.description)), ("type", .int(Int64(type.rawValue))), ("parent_id", .string(parent.description)),
            ("owner_id", .string(owner.description)), ("name", .string(name)), ("last_message_id", nil),
            ("rate_limit_per_user", 0), ("message_count", 0), ("member_count", botMember ? 2 : 1),
            ("total_message_sent", 0), ("thread_metadata", .object(metadata)), ("flags", 0),
        ]
        if let appliedTag { fields.append(("applied_tags", [.string(appliedTag.description)])) }
        if botMember { fields.append(("member", .object([("join_timestamp", .string(created)), ("flags", 0)]))) }
        return .object(fields)
    }
}

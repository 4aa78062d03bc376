/// A file attached to a message.
public struct Attachment: Sendable, Hashable, Codable {
    /// The attachment ID.
    public var id: Snowflake
    /// The file name.
    public var filename: String
    /// The title.
    public var title: String?
    /// The alt text.
    public var description: String?
    /// The media type, for example `"image/png"`.
    public var contentType: String?
    /// The size in bytes.
    public var size: Int
    /// The source URL.
    public var url: String
    /// The proxied URL.
    public var proxyURL: String
    /// Image height.
    public var height: Int?
    /// Image width.
    public var width: Int?
    /// Whether the attachment is ephemeral.
    public var ephemeral: Bool?
    /// Duration of a voice message, in seconds.
    public var durationSecs: Double?
    /// The attachment flags bitfield.
    public var flags: Int?

    /// Creates an attachment.
    public init(
        id: Snowflake, filename: String, title: String? = nil, description: String? = nil,
        contentType: String? = nil, size: Int, url: String, proxyURL: String, height: Int? = nil,
        width: Int? = nil, ephemeral: Bool? = nil, durationSecs: Double? = nil, flags: Int? = nil
    ) {
        self.id = id
        self.filename = filename
        self.title = title
        self.description = description
        self.contentType = contentType
        self.size = size
        self.url = url
        self.proxyURL = proxyURL
        self.height = height
        self.width = width
        self.ephemeral = ephemeral
        self.durationSecs = durationSecs
        self.flags = flags
    }

    /// Wire keys.
    enum CodingKeys: String, CodingKey {
        case id, filename, title, description
        case contentType = "content_type"
        case size, url
        case proxyURL = "proxy_url"
        case height, width, ephemeral
        case durationSecs = "duration_secs"
        case flags
    }
}

/// A message, as in MESSAGE_CREATE and MESSAGE_UPDATE (which add `guild_id` and `member`).
///
/// Embeds, reactions, components and other rich parts are kept as ``JSONValue``. Decoding is
/// lenient: missing arrays decode as empty, missing `tts`/`mention_everyone`/`pinned` as false,
/// and missing `content` as `""` (as without the MESSAGE_CONTENT intent). The partial `member`
/// attached to each mentioned user is dropped.
public struct Message: Sendable, Hashable, Codable {
    /// The message ID.
    public var id: Snowflake
    /// The channel the message was sent in.
    public var channelID: Snowflake
    /// The author (for webhook messages, the webhook's name and avatar).
    public var author: User
    /// The text; empty without the MESSAGE_CONTENT intent (with exceptions, spec §9).
    public var content: String
    /// When the message was sent (ISO 8601).
    public var timestamp: String
    /// When the message was last edited (ISO 8601), nil if never.
    public var editedTimestamp: String?
    /// Whether it is a text-to-speech message.
    public var tts: Bool
    /// Whether it mentions `@everyone`.
    public var mentionEveryone: Bool
    /// Users specifically mentioned.
    public var mentions: [User]
    /// Roles specifically mentioned.
    public var mentionRoles: [Snowflake]
    /// Channels specifically mentioned (crossposts only), untyped.
    public var mentionChannels: [JSONValue]?
    /// Attached files.
    public var attachments: [Attachment]
    /// Embeds, untyped.
    public var embeds: [JSONValue]
    /// Reactions, untyped.
    public var reactions: [JSONValue]?
    /// A client-chosen value for checking that a message was sent (string or integer).
    public var nonce: JSONValue?
    /// Whether the message is pinned.
    public var pinned: Bool
    /// The webhook that sent the message.
    public var webhookID: Snowflake?
    /// The message type (0 default, 19 reply, …).
    public var type: Int
    /// Rich presence activity, untyped.
    public var activity: JSONValue?
    /// The application, for rich presence and interaction messages, untyped.
    public var application: JSONValue?
    /// The application, for interaction or application-owned webhook messages.
    public var applicationID: Snowflake?
    /// The message flags bitfield.
    public var flags: Int?
    /// The source of a reply, crosspost or forward, untyped.
    public var messageReference: JSONValue?
    /// Forwarded message snapshots, untyped.
    public var messageSnapshots: [JSONValue]?
    /// Interaction metadata, untyped.
    public var interactionMetadata: JSONValue?
    /// The thread started from this message.
    public var thread: Channel?
    /// Message components, untyped.
    public var components: [JSONValue]?
    /// Sticker items, untyped.
    public var stickerItems: [JSONValue]?
    /// The approximate position in a thread.
    public var position: Int?
    /// A poll, untyped.
    public var poll: JSONValue?
    /// The guild (MESSAGE_CREATE/UPDATE in guild channels).
    public var guildID: Snowflake?
    /// The author's partial member (MESSAGE_CREATE/UPDATE in guild channels; no `user`).
    public var member: GuildMember?
    /// The channel type (MESSAGE_CREATE/UPDATE).
    public var channelType: ChannelType?

    /// Storage for ``referencedMessage`` (an array, because a struct cannot contain itself directly).
    private var referencedStorage: [Message]

    /// The message this one replies to; nil when it is not a reply or the original was deleted.
    public var referencedMessage: Message? {
        get { referencedStorage.first }
        set { referencedStorage = newValue.map { [$0] } ?? [] }
    }

    /// Creates a message.
    public init(
        id: Snowflake, channelID: Snowflake, author: User, content: String = "", timestamp: String,
        editedTimestamp: String? = nil, tts: Bool = false, mentionEveryone: Bool = false, mentions: [User] = [],
        mentionRoles: [Snowflake] = [], mentionChannels: [JSONValue]? = nil, attachments: [Attachment] = [],
        embeds: [JSONValue] = [], reactions: [JSONValue]? = nil, nonce: JSONValue? = nil, pinned: Bool = false,
        webhookID: Snowflake? = nil, type: Int = 0, activity: JSONValue? = nil, application: JSONValue? = nil,
        applicationID: Snowflake? = nil, flags: Int? = nil, messageReference: JSONValue? = nil,
        messageSnapshots: [JSONValue]? = nil, referencedMessage: Message? = nil,
        interactionMetadata: JSONValue? = nil, thread: Channel? = nil, components: [JSONValue]? = nil,
        stickerItems: [JSONValue]? = nil, position: Int? = nil, poll: JSONValue? = nil,
        guildID: Snowflake? = nil, member: GuildMember? = nil, channelType: ChannelType? = nil
    ) {
        self.id = id
        self.channelID = channelID
        self.author = author
        self.content = content
        self.timestamp = timestamp
        self.editedTimestamp = editedTimestamp
        self.tts = tts
        self.mentionEveryone = mentionEveryone
        self.mentions = mentions
        self.mentionRoles = mentionRoles
        self.mentionChannels = mentionChannels
        self.attachments = attachments
        self.embeds = embeds
        self.reactions = reactions
        self.nonce = nonce
        self.pinned = pinned
        self.webhookID = webhookID
        self.type = type
        self.activity = activity
        self.application = application
        self.applicationID = applicationID
        self.flags = flags
        self.messageReference = messageReference
        self.messageSnapshots = messageSnapshots
        self.referencedStorage = referencedMessage.map { [$0] } ?? []
        self.interactionMetadata = interactionMetadata
        self.thread = thread
        self.components = components
        self.stickerItems = stickerItems
        self.position = position
        self.poll = poll
        self.guildID = guildID
        self.member = member
        self.channelType = channelType
    }

    /// Wire keys.
    enum CodingKeys: String, CodingKey {
        case id
        case channelID = "channel_id"
        case author, content, timestamp
        case editedTimestamp = "edited_timestamp"
        case tts
        case mentionEveryone = "mention_everyone"
        case mentions
        case mentionRoles = "mention_roles"
        case mentionChannels = "mention_channels"
        case attachments, embeds, reactions, nonce, pinned
        case webhookID = "webhook_id"
        case type, activity, application
        case applicationID = "application_id"
        case flags
        case messageReference = "message_reference"
        case messageSnapshots = "message_snapshots"
        case referencedMessage = "referenced_message"
        case interactionMetadata = "interaction_metadata"
        case thread, components
        case stickerItems = "sticker_items"
        case position, poll
        case guildID = "guild_id"
        case member
        case channelType = "channel_type"
    }

    /// Decodes leniently (see the type's documentation).
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.id = try c.decode(Snowflake.self, forKey: .id)
        self.channelID = try c.decode(Snowflake.self, forKey: .channelID)
        self.author = try c.decode(User.self, forKey: .author)
        self.content = try c.decodeIfPresent(String.self, forKey: .content) ?? ""
        self.timestamp = try c.decode(String.self, forKey: .timestamp)
        self.editedTimestamp = try c.decodeIfPresent(String.self, forKey: .editedTimestamp)
        self.tts = try c.decodeIfPresent(Bool.self, forKey: .tts) ?? false
        self.mentionEveryone = try c.decodeIfPresent(Bool.self, forKey: .mentionEveryone) ?? false
        self.mentions = try c.decodeIfPresent([User].self, forKey: .mentions) ?? []
        self.mentionRoles = try c.decodeIfPresent([Snowflake].self, forKey: .mentionRoles) ?? []
        self.mentionChannels = try c.decodeIfPresent([JSONValue].self, forKey: .mentionChannels)
        self.attachments = try c.decodeIfPresent([Attachment].self, forKey: .attachments) ?? []
        self.embeds = try c.decodeIfPresent([JSONValue].self, forKey: .embeds) ?? []
        self.reactions = try c.decodeIfPresent([JSONValue].self, forKey: .reactions)
        self.nonce = try c.decodeIfPresent(JSONValue.self, forKey: .nonce)
        self.pinned = try c.decodeIfPresent(Bool.self, forKey: .pinned) ?? false
        self.webhookID = try c.decodeIfPresent(Snowflake.self, forKey: .webhookID)
        self.type = try c.decodeIfPresent(Int.self, forKey: .type) ?? 0
        self.activity = try c.decodeIfPresent(JSONValue.self, forKey: .activity)
        self.application = try c.decodeIfPresent(JSONValue.self, forKey: .application)
        self.applicationID = try c.decodeIfPresent(Snowflake.self, forKey: .applicationID)
        self.flags = try c.decodeIfPresent(Int.self, forKey: .flags)
        self.messageReference = try c.decodeIfPresent(JSONValue.self, forKey: .messageReference)
        self.messageSnapshots = try c.decodeIfPresent([JSONValue].self, forKey: .messageSnapshots)
        self.referencedStorage = try c.decodeIfPresent(Message.self, forKey: .referencedMessage).map { [$0] } ?? []
        self.interactionMetadata = try c.decodeIfPresent(JSONValue.self, forKey: .interactionMetadata)
        self.thread = try c.decodeIfPresent(Channel.self, forKey: .thread)
        self.components = try c.decodeIfPresent([JSONValue].self, forKey: .components)
        self.stickerItems = try c.decodeIfPresent([JSONValue].self, forKey: .stickerItems)
        self.position = try c.decodeIfPresent(Int.self, forKey: .position)
        self.poll = try c.decodeIfPresent(JSONValue.self, forKey: .poll)
        self.guildID = try c.decodeIfPresent(Snowflake.self, forKey: .guildID)
        self.member = try c.decodeIfPresent(GuildMember.self, forKey: .member)
        self.channelType = try c.decodeIfPresent(ChannelType.self, forKey: .channelType)
    }

    /// Encodes every non-nil field; the required arrays and flags are always written.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(id, forKey: .id)
        try c.encode(channelID, forKey: .channelID)
        try c.encode(author, forKey: .author)
        try c.encode(content, forKey: .content)
        try c.encode(timestamp, forKey: .timestamp)
        try c.encodeIfPresent(editedTimestamp, forKey: .editedTimestamp)
        try c.encode(tts, forKey: .tts)
        try c.encode(mentionEveryone, forKey: .mentionEveryone)
        try c.encode(mentions, forKey: .mentions)
        try c.encode(mentionRoles, forKey: .mentionRoles)
        try c.encodeIfPresent(mentionChannels, forKey: .mentionChannels)
        try c.encode(attachments, forKey: .attachments)
        try c.encode(embeds, forKey: .embeds)
        try c.encodeIfPresent(reactions, forKey: .reactions)
        try c.encodeIfPresent(nonce, forKey: .nonce)
        try c.encode(pinned, forKey: .pinned)
        try c.encodeIfPresent(webhookID, forKey: .webhookID)
        try c.encode(type, forKey: .type)
        try c.encodeIfPresent(activity, forKey: .activity)
        try c.encodeIfPresent(application, forKey: .application)
        try c.encodeIfPresent(applicationID, forKey: .applicationID)
        try c.encodeIfPresent(flags, forKey: .flags)
        try c.encodeIfPresent(messageReference, forKey: .messageReference)
        try c.encodeIfPresent(messageSnapshots, forKey: .messageSnapshots)
        try c.encodeIfPresent(referencedMessage, forKey: .referencedMessage)
        try c.encodeIfPresent(interactionMetadata, forKey: .interactionMetadata)
        try c.encodeIfPresent(thread, forKey: .thread)
        try c.encodeIfPresent(components, forKey: .components)
        try c.encodeIfPresent(stickerItems, forKey: .stickerItems)
        try c.encodeIfPresent(position, forKey: .position)
        try c.encodeIfPresent(poll, forKey: .poll)
        try c.encodeIfPresent(guildID, forKey: .guildID)
        try c.encodeIfPresent(member, forKey: .member)
        try c.encodeIfPresent(channelType, forKey: .channelType)
    }
}

/// The body of MESSAGE_CREATE: a ``Message``, whose ``Message/guildID`` and ``Message/member``
/// carry the event's extra `guild_id` and `member` fields (and ``Message/channelType`` its
/// `channel_type`). A type alias, so a MESSAGE_CREATE body can be used wherever a message is expected.
public typealias MessageCreate = Message

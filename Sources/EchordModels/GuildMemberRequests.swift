/// The body of Request Guild Members (op 8), answered with GUILD_MEMBERS_CHUNK dispatches
/// (spec §10.2).
///
/// Use either `query` (with `limit`) or `userIDs`. `query: ""` with `limit: 0` asks for every
/// member (needs GUILD_MEMBERS; one such request per guild per 30 s, else RATE_LIMITED).
///
/// Decoding accepts `guild_id` as a string or a number and `user_ids` as one snowflake or an
/// array; encoding writes `user_ids` as an array and leaves out nil fields.
public struct RequestGuildMembers: Sendable, Hashable, Codable {
    /// The guild to list members of.
    public var guildID: Snowflake
    /// A username prefix, or `""` for everyone.
    public var query: String?
    /// The most members to return (required with `query`; 0 = no limit for `""`).
    public var limit: Int?
    /// Whether to include presences (needs GUILD_PRESENCES).
    public var presences: Bool?
    /// Specific users to fetch (at most 100).
    public var userIDs: [Snowflake]?
    /// A string of at most 32 bytes echoed in the chunks.
    public var nonce: String?

    /// Creates a member request.
    public init(
        guildID: Snowflake, query: String? = nil, limit: Int? = nil, presences: Bool? = nil,
        userIDs: [Snowflake]? = nil, nonce: String? = nil
    ) {
        self.guildID = guildID
        self.query = query
        self.limit = limit
        self.presences = presences
        self.userIDs = userIDs
        self.nonce = nonce
    }

    /// Wire keys.
    enum CodingKeys: String, CodingKey {
        case guildID = "guild_id"
        case query, limit, presences
        case userIDs = "user_ids"
        case nonce
    }

    /// Decodes leniently (single or array `user_ids`).
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.guildID = try c.decode(Snowflake.self, forKey: .guildID)
        self.query = try c.decodeIfPresent(String.self, forKey: .query)
        self.limit = try c.decodeIfPresent(Int.self, forKey: .limit)
        self.presences = try c.decodeIfPresent(Bool.self, forKey: .presences)
        if let many = try? c.decodeIfPresent([Snowflake].self, forKey: .userIDs) {
            self.userIDs = many
        } else {
            self.userIDs = try c.decodeIfPresent(Snowflake.self, forKey: .userIDs).map { [$0] }
        }
        self.nonce = try c.decodeIfPresent(String.self, forKey: .nonce)
    }
}

/// The body of a GUILD_MEMBERS_CHUNK dispatch: one page (at most 1000 members) of the answer to
/// ``RequestGuildMembers``.
///
/// `not_found` IDs may come back as JSON numbers (spec §10.1); ``Snowflake`` accepts both.
public struct GuildMembersChunk: Sendable, Hashable, Codable {
    /// The guild.
    public var guildID: Snowflake
    /// The members in this chunk.
    public var members: [GuildMember]
    /// This chunk's index, `0 ..< chunkCount`.
    public var chunkIndex: Int
    /// The number of chunks in the answer.
    public var chunkCount: Int
    /// Requested user IDs that were not found.
    public var notFound: [Snowflake]?
    /// The members' presences, when requested.
    public var presences: [PresencePayload]?
    /// The request's nonce.
    public var nonce: String?

    /// Creates a chunk.
    public init(
        guildID: Snowflake, members: [GuildMember], chunkIndex: Int, chunkCount: Int, notFound: [Snowflake]? = nil,
        presences: [PresencePayload]? = nil, nonce: String? = nil
    ) {
        self.guildID = guildID
        self.members = members
        self.chunkIndex = chunkIndex
        self.chunkCount = chunkCount
        self.notFound = notFound
        self.presences = presences
        self.nonce = nonce
    }

    /// Wire keys.
    enum CodingKeys: String, CodingKey {
        case guildID = "guild_id"
        case members
        case chunkIndex = "chunk_index"
        case chunkCount = "chunk_count"
        case notFound = "not_found"
        case presences, nonce
    }
}

/// The `meta` object of RATE_LIMITED: which request was limited.
public struct RateLimitedMetadata: Sendable, Hashable, Codable {
    /// The guild of the limited Request Guild Members.
    public var guildID: Snowflake?
    /// The nonce of the limited request.
    public var nonce: String?

    /// Creates rate-limit metadata.
    public init(guildID: Snowflake? = nil, nonce: String? = nil) {
        self.guildID = guildID
        self.nonce = nonce
    }

    /// Wire keys.
    enum CodingKeys: String, CodingKey {
        case guildID = "guild_id"
        case nonce
    }
}

/// The body of a RATE_LIMITED dispatch: a command was refused, the connection stays up (spec §6).
///
/// A missing `meta` decodes as empty metadata.
public struct RateLimited: Sendable, Hashable, Codable {
    /// The opcode of the limited command (8, Request Guild Members, today).
    public var opcode: GatewayOpcode
    /// Seconds to wait before retrying.
    public var retryAfter: Double
    /// What was limited.
    public var meta: RateLimitedMetadata

    /// Creates a RATE_LIMITED body.
    public init(opcode: GatewayOpcode, retryAfter: Double, meta: RateLimitedMetadata = .init()) {
        self.opcode = opcode
        self.retryAfter = retryAfter
        self.meta = meta
    }

    /// Wire keys.
    enum CodingKeys: String, CodingKey {
        case opcode
        case retryAfter = "retry_after"
        case meta
    }

    /// Decodes leniently (missing `meta` is empty).
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.opcode = try c.decode(GatewayOpcode.self, forKey: .opcode)
        self.retryAfter = try c.decode(Double.self, forKey: .retryAfter)
        self.meta = try c.decodeIfPresent(RateLimitedMetadata.self, forKey: .meta) ?? .init()
    }
}

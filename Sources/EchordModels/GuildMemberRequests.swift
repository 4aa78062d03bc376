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


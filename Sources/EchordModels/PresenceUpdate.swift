/// The body of Presence Update (op 3), also used as Identify's `presence` (spec §10.2).
///
/// `since` is always encoded, as `null` when nil. Decoding tolerates missing `activities`
/// (empty) and `afk` (false).
public struct PresenceUpdate: Sendable, Hashable, Codable {
    /// Unix time in milliseconds when the client went idle, or nil when not idle.
    public var since: Int?
    /// The bot's activities.
    public var activities: [Activity]
    /// The bot's status.
    public var status: PresenceStatus
    /// Whether the client is AFK.
    public var afk: Bool

    /// Creates a presence update.
    public init(since: Int? = nil, activities: [Activity] = [], status: PresenceStatus, afk: Bool = false) {
        self.since = since
        self.activities = activities
        self.status = status
        self.afk = afk
    }

    /// Wire keys.
    enum CodingKeys: String, CodingKey {
        case since, activities, status, afk
    }

    /// Decodes leniently (missing activities and afk get defaults).
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.since = try container.decodeIfPresent(Int.self, forKey: .since)
        self.activities = try container.decodeIfPresent([Activity].self, forKey: .activities) ?? []
        self.status = try container.decode(PresenceStatus.self, forKey: .status)
        self.afk = try container.decodeIfPresent(Bool.self, forKey: .afk) ?? false
    }

    /// Encodes all four fields; `since` as `null` when nil.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        if let since {
            try container.encode(since, forKey: .since)
        } else {
            try container.encodeNil(forKey: .since)
        }
        try container.encode(activities, forKey: .activities)
        try container.encode(status, forKey: .status)
        try container.encode(afk, forKey: .afk)
    }
}


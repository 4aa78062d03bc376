/// The body of Hello (op 10), the first frame on every connection (spec §4).
public struct Hello: Sendable, Hashable, Codable {
    /// How often to heartbeat, in milliseconds.
    public var heartbeatInterval: Int

    /// Creates a Hello body.
    public init(heartbeatInterval: Int) {
        self.heartbeatInterval = heartbeatInterval
    }

    /// Wire keys.
    enum CodingKeys: String, CodingKey {
        case heartbeatInterval = "heartbeat_interval"
    }
}

/// The `properties` object of Identify: who is connecting.
///
/// Encodes `os`, `browser` and `device`; also decodes the deprecated `$os`, `$browser` and
/// `$device` keys, which the gateway still accepts. A missing property decodes as `""`.
public struct ConnectionProperties: Sendable, Hashable, Codable {
    /// The operating system, for example `"linux"`.
    public var os: String
    /// The library name.
    public var browser: String
    /// The library name.
    public var device: String

    /// Creates connection properties.
    public init(os: String, browser: String, device: String) {
        self.os = os
        self.browser = browser
        self.device = device
    }

    /// Current and deprecated wire keys.
    enum CodingKeys: String, CodingKey {
        case os, browser, device
        case legacyOS = "$os"
        case legacyBrowser = "$browser"
        case legacyDevice = "$device"
    }

    /// Decodes the current keys, falling back to the `$`-prefixed ones.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        func value(_ key: CodingKeys, _ legacy: CodingKeys) throws -> String {
            try container.decodeIfPresent(String.self, forKey: key)
                ?? container.decodeIfPresent(String.self, forKey: legacy) ?? ""
        }
        self.os = try value(.os, .legacyOS)
        self.browser = try value(.browser, .legacyBrowser)
        self.device = try value(.device, .legacyDevice)
    }

    /// Encodes the current (unprefixed) keys.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(os, forKey: .os)
        try container.encode(browser, forKey: .browser)
        try container.encode(device, forKey: .device)
    }
}

/// A shard pair, coded as the two-element JSON array `[shard_id, num_shards]` (spec §7).
///
/// Decoding does not check the range (a server must be able to read an invalid pair to answer
/// with 4010); use ``isValid`` for that. An array of any length other than two is rejected.
public struct ShardInfo: Sendable, Hashable, Codable {
    /// This shard's index, `0 ..< shardCount`.
    public var shardID: Int
    /// The total number of shards.
    public var shardCount: Int

    /// Creates a shard pair.
    public init(shardID: Int, shardCount: Int) {
        self.shardID = shardID
        self.shardCount = shardCount
    }

    /// Whether `0 <= shardID < shardCount`.
    public var isValid: Bool { shardCount > 0 && shardID >= 0 && shardID < shardCount }

    /// Decodes `[shard_id, num_shards]`; throws `DecodingError.dataCorrupted` for other lengths.
    public init(from decoder: any Decoder) throws {
        let values = try decoder.singleValueContainer().decode([Int].self)
        guard values.count == 2 else {
            throw DecodingError.dataCorrupted(.init(
                codingPath: decoder.codingPath,
                debugDescription: "Expected [shard_id, num_shards], got an array of \(values.count) element(s)"))
        }
        self.shardID = values[0]
        self.shardCount = values[1]
    }

    /// Encodes `[shard_id, num_shards]`.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode([shardID, shardCount])
    }
}

/// The body of Identify (op 2), which starts a new session (spec §5.1).
public struct Identify: Sendable, Hashable, Codable {
    /// The bot token, without the `Bot ` prefix.
    public var token: BotToken
    /// Who is connecting.
    public var properties: ConnectionProperties
    /// Whether to use payload compression (spec §8.2).
    public var compress: Bool?
    /// 50-250: member count above which offline members are left out of guild member lists.
    public var largeThreshold: Int?
    /// The shard pair, when sharding.
    public var shard: ShardInfo?
    /// The initial presence.
    public var presence: PresenceUpdate?
    /// The gateway intents.
    public var intents: GatewayIntents

    /// Creates an Identify body.
    public init(
        token: BotToken, properties: ConnectionProperties, compress: Bool? = nil, largeThreshold: Int? = nil,
        shard: ShardInfo? = nil, presence: PresenceUpdate? = nil, intents: GatewayIntents
    ) {
        self.token = token
        self.properties = properties
        self.compress = compress
        self.largeThreshold = largeThreshold
        self.shard = shard
        self.presence = presence
        self.intents = intents
    }

    /// Wire keys.
    enum CodingKeys: String, CodingKey {
        case token, properties, compress
        case largeThreshold = "large_threshold"
        case shard, presence, intents
    }
}

/// The body of Resume (op 6), which continues a dropped session (spec §5.2).
public struct Resume: Sendable, Hashable, Codable {
    /// The bot token.
    public var token: BotToken
    /// The `session_id` from READY.
    public var sessionID: String
    /// The last sequence number received.
    public var sequence: Int

    /// Creates a Resume body.
    public init(token: BotToken, sessionID: String, sequence: Int) {
        self.token = token
        self.sessionID = sessionID
        self.sequence = sequence
    }

    /// Wire keys.
    enum CodingKeys: String, CodingKey {
        case token
        case sessionID = "session_id"
        case sequence = "seq"
    }
}


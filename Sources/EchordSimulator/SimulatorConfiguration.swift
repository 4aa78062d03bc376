import EchordModels

/// Everything that shapes a ``GatewaySimulator``: where it listens, the gateway's rules and limits,
/// the world it serves, the traffic it generates and the script it plays.
///
/// Defaults follow Discord where Discord documents a value (45 s heartbeat, 120 frames per 60 s,
/// 4096-byte frames, 2,500 guilds per shard, identify buckets of 5 s); the rest are the simulator's
/// choices, documented on each property.
public struct SimulatorConfiguration: Sendable {
    /// The address to bind. Only loopback makes sense for tests.
    public var host: String = "127.0.0.1"
    /// The port to bind; 0 picks a free one (read it back from ``GatewaySimulator/port``).
    public var port: Int = 0
    /// TLS: nil (the default) serves `http://` and `ws://`; set, REST is served on `https://` and
    /// the gateway on `wss://` on the same port, with the certificate it names (see
    /// ``SimulatorTLSConfiguration``; read the certificate back from
    /// ``GatewaySimulator/certificatePEM`` to trust it).
    public var tls: SimulatorTLSConfiguration? = nil

    /// `heartbeat_interval` sent in HELLO, in milliseconds.
    public var heartbeatIntervalMilliseconds: Int = 45_000
    /// How long past a heartbeat's due time the simulator waits before it closes the socket for a
    /// missed heartbeat, as a fraction of the interval. The first heartbeat is due one interval after
    /// HELLO (clients jitter it within the interval); each later one an interval after the previous.
    public var heartbeatGraceFraction: Double = 0.5
    /// The close code sent when a client misses its heartbeat. Discord does not document it; 4000
    /// keeps the session resumable, as the spec says the client must resume.
    public var missedHeartbeatCloseCode: UInt16 = 4000

    /// `shards` in `GET /gateway/bot`.
    public var recommendedShards: Int = 1
    /// `session_start_limit.total`.
    public var sessionStartLimitTotal: Int = 1000
    /// `session_start_limit.remaining` at start.
    public var sessionStartLimitRemaining: Int = 1000
    /// The length of the session start window (`reset_after` counts down to its end), in milliseconds.
    public var sessionStartLimitResetMilliseconds: Int64 = 86_400_000
    /// `session_start_limit.max_concurrency`: the number of identify buckets.
    public var maxConcurrency: Int = 1
    /// How long one bucket stays busy after an IDENTIFY, in milliseconds (Discord: 5 s).
    public var identifyBucketMilliseconds: Int64 = 5_000
    /// The most guilds one shard may hold before IDENTIFY is refused with 4011 (Discord: 2,500).
    public var maxGuildsPerShard: Int = 2500
    /// The privileged intents the application has enabled; asking for others closes with 4014.
    public var enabledPrivilegedIntents: GatewayIntents = .privileged
    /// Tokens the simulator accepts. Empty accepts every well-formed bot token
    /// (`<base64 user id>.<x>.<y>`), which is what the conformance runner sends.
    public var acceptedTokens: Set<String> = []

    /// How long a session stays resumable after its socket drops, in milliseconds.
    public var sessionResumeWindowMilliseconds: Int64 = 180_000
    /// The most dispatches a session keeps for replay; older ones can no longer be resumed past.
    public var replayBufferLimit: Int = 10_000
    /// Client frames allowed per window before the next one closes the socket with 4008.
    public var sendLimitFrames: Int = 120
    /// The send-limit window, in milliseconds.
    public var sendLimitWindowMilliseconds: Int64 = 60_000
    /// The largest client frame accepted; a larger one closes the socket with 4002.
    public var maxClientFrameBytes: Int = 4096
    /// Seconds a client must wait between two "all members" requests for one guild.
    public var allMembersRateLimitMilliseconds: Int64 = 30_000
    /// Members per GUILD_MEMBERS_CHUNK (Discord: at most 1,000).
    public var membersPerChunk: Int = 1000

    /// The most bytes of server frames (payloads before compression) a frozen connection holds for
    /// its thaw, like a kernel's socket buffer; the frame that goes past it drops the TCP connection
    /// without a close frame, and the session stays resumable. 4 MiB.
    public var freezeHeldBytesLimit: Int = 4 << 20
    /// How long a TCP connection may take to send its first complete HTTP request (its head and any
    /// body), from the moment it is accepted, before the simulator closes it, in milliseconds. It
    /// covers a partial request held open and a connection that never sends one. Measured on
    /// ``timeSource``.
    public var httpRequestTimeoutMilliseconds: Int64 = 10_000

    /// How zlib-stream output is split into WebSocket frames: 1 sends each message in one frame;
    /// larger values split every compressed message into up to that many frames, to exercise a
    /// client's buffering until the `00 00 ff ff` suffix.
    public var zlibFramesPerMessage: Int = 1

    /// The world the bot sees.
    public var world: WorldConfiguration = .init()
    /// The synthetic traffic sent to every session.
    public var traffic: TrafficConfiguration = .init()
    /// A scripted scenario played for every session, or nil.
    public var scenario: SimulatorScenario? = nil
    /// Faults injected on the simulator's own schedule (chaos mode), or nil. The ledger behind
    /// ``GatewaySimulator/chaosReport()`` counts with or without it.
    public var chaos: ChaosConfiguration? = nil

    /// How the simulator tells time.
    public var timeSource: SimulatorTimeSource = .realTime
    /// How many entries the frame log keeps (older ones are dropped first).
    public var frameLogCapacity: Int = 100_000
    /// Whether the frame log keeps the JSON text of frames the simulator sends (client frames are
    /// always kept, with the token redacted). Off by default: it costs memory under load.
    public var logServerPayloads: Bool = false

    /// A configuration with Discord's defaults and a world of one guild.
    public init() {}

    /// A sharded bot's gateway: `GET /gateway/bot` recommends `shards` (``recommendedShards``) for a
    /// world of `guilds` guilds, with `maxConcurrency` identify buckets, each busy for
    /// `identifyBucketMilliseconds` after an IDENTIFY (0: identifies never wait); Discord's
    /// defaults otherwise.
    ///
    /// ```swift
    /// let simulator = try await GatewaySimulator.start(
    ///     configuration: SimulatorConfiguration(shards: 2, guilds: 4, maxConcurrency: 2, identifyBucketMilliseconds: 0))
    /// ```
    public init(shards: Int, guilds: Int, maxConcurrency: Int = 1, identifyBucketMilliseconds: Int64 = 5_000) {
        self.recommendedShards = shards
        self.world.guildCount = guilds
        self.maxConcurrency = maxConcurrency
        self.identifyBucketMilliseconds = identifyBucketMilliseconds
    }
}

/// The guilds, channels and members the simulator serves.
public struct WorldConfiguration: Sendable {
    /// Number of guilds the bot is in.
    public var guildCount: Int = 1
    /// Text channels per guild (each guild also gets one voice channel and one category).
    public var textChannelsPerGuild: Int = 2
    /// Members per guild, besides the bot itself.
    public var membersPerGuild: Int = 10
    /// Seed for everything random in the world and the traffic.
    public var seed: UInt64 = 0x5EED

    /// A world of one guild with two text channels and ten members.
    public init() {}
}

/// Synthetic dispatch traffic, for load tests.
public struct TrafficConfiguration: Sendable {
    /// Events per second across all guilds (0 turns the generator off).
    public var eventsPerSecond: Double = 0
    /// The relative weight of each event kind; kinds missing from the map are not generated.
    public var mix: [TrafficEventKind: Double] = TrafficEventKind.defaultMix

    /// Generator off, with the default mix.
    public init() {}
}

/// The dispatch kinds the traffic generator produces.
public enum TrafficEventKind: String, Sendable, CaseIterable, Hashable {
    /// `MESSAGE_CREATE`.
    case messageCreate = "MESSAGE_CREATE"
    /// `MESSAGE_UPDATE`.
    case messageUpdate = "MESSAGE_UPDATE"
    /// `MESSAGE_DELETE`.
    case messageDelete = "MESSAGE_DELETE"
    /// `TYPING_START`.
    case typingStart = "TYPING_START"
    /// `PRESENCE_UPDATE`.
    case presenceUpdate = "PRESENCE_UPDATE"
    /// `GUILD_MEMBER_UPDATE`.
    case guildMemberUpdate = "GUILD_MEMBER_UPDATE"
    /// `MESSAGE_REACTION_ADD`.
    case messageReactionAdd = "MESSAGE_REACTION_ADD"
    /// `MESSAGE_REACTION_REMOVE`.
    case messageReactionRemove = "MESSAGE_REACTION_REMOVE"

    /// A realistic mix: mostly messages, then typing, presences and reactions.
    public static let defaultMix: [TrafficEventKind: Double] = [
        .messageCreate: 55, .messageUpdate: 8, .messageDelete: 3, .typingStart: 14,
        .presenceUpdate: 10, .guildMemberUpdate: 2, .messageReactionAdd: 6, .messageReactionRemove: 2,
    ]
}

/// How the simulator tells time.
public enum SimulatorTimeSource: Sendable {
    /// The system's monotonic clock; timers fire on their own.
    case realTime
    /// Time stands still until ``GatewaySimulator/advanceTime(by:)`` moves it, so tests can check
    /// time-based rules (heartbeat deadlines, identify buckets, send windows) without sleeping.
    case manual
}

extension SimulatorConfiguration {
    /// ``host`` as it goes in a URL: an IPv6 address in brackets.
    var urlHost: String { host.contains(":") ? "[\(host)]" : host }
}

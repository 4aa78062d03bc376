import EchordModels

/// Everything one shard needs to connect.
public struct ShardConfiguration: Sendable {
    /// The bot token (sent in IDENTIFY and RESUME; never logged).
    public var token: BotToken
    /// The gateway intents.
    public var intents: GatewayIntents
    /// This shard's id, `0 ..< shardCount`.
    public var shardID: Int = 0
    /// The bot's shard count.
    public var shardCount: Int = 1
    /// The presence sent in IDENTIFY.
    public var presence: PresenceUpdate? = nil
    /// Member count above which Discord leaves offline members out of GUILD_CREATE (50–250).
    public var largeThreshold: Int = 50
    /// Transport compression; ``GatewayCompression/preferred`` picks zstd where built in, else zlib.
    public var compression: GatewayCompression = .preferred
    /// The gateway URL for IDENTIFY (from `GET /gateway/bot`).
    public var gatewayURL: String = "wss://gateway.discord.gg"
    /// The `properties` sent in IDENTIFY.
    public var connectionProperties = ConnectionProperties(os: "linux", browser: "Echord", device: "Echord")
    /// Connect and handshake timeouts, the largest message.
    public var transport = GatewayTransportConfiguration()
    /// Certificate authorities trusted for `wss://` besides the system's roots (a private CA, a
    /// TLS simulator's certificate). Shards with the same roots share one TLS context. A root that
    /// cannot be loaded makes ``Shard/run()`` throw ``TLSTrustRootError`` before connecting.
    public var additionalTrustRoots: [TLSTrustRoot] = []
    /// How long to wait for HELLO after connecting.
    public var helloTimeout: Duration = .seconds(20)
    /// How long to wait for READY or RESUMED after IDENTIFY or RESUME.
    public var readyTimeout: Duration = .seconds(30)
    /// The first reconnect backoff ceiling (it doubles per failed attempt).
    public var backoffBase: Duration = .seconds(1)
    /// The largest reconnect backoff ceiling.
    public var backoffCap: Duration = .seconds(60)
    /// The cap on one decompressed message: a larger one is a decompression bomb and ends the
    /// connection with a typed error (the shard then resumes).
    public var maxDecompressedMessageSize: Int = 64 << 20
    /// Events buffered for the consumer before the shard stops reading its socket (see ``Shard/events``),
    /// counting those the consumer's iterator has taken in a batch (at most half of them) and not yet handed out.
    public var eventBufferCapacity: Int = 4096
    /// How long a command issued while the shard is not ready waits for READY or RESUMED before it
    /// fails with ``GatewayCommandError/notConnected(waited:)``.
    public var commandWaitLimit: Duration = .seconds(30)
    /// How often the session (its sequence number) is saved while events flow: at the first event or
    /// heartbeat ACK at least this long after the previous check, so at most this interval plus one
    /// heartbeat interval behind. It is also saved at READY, RESUMED, invalidation and stop. A
    /// restarted process resumes from the last save, and the gateway replays what came after it.
    public var sessionSaveInterval: Duration = .seconds(5)
    /// The dispatches delivered to ``Shard/events``: the others still advance the sequence number
    /// but are neither buffered nor decoded. READY and RESUMED are always delivered. Build one from
    /// the intents (`GatewayEventSubscription(intents:)`) or from the kinds the bot handles.
    public var eventSubscription: GatewayEventSubscription = .all

    /// A configuration for shard 0 of 1 with Discord's defaults.
    public init(token: BotToken, intents: GatewayIntents) {
        self.token = token
        self.intents = intents
    }

    func validate() throws {
        guard shardCount >= 1, (0..<shardCount).contains(shardID) else {
            throw ShardError.invalidConfiguration("shard \(shardID) is not in 0..<\(shardCount)")
        }
        guard (50...250).contains(largeThreshold) else {
            throw ShardError.invalidConfiguration("largeThreshold \(largeThreshold) is not in 50...250")
        }
        guard compression.isAvailable else {
            throw ShardError.invalidConfiguration("zstd-stream needs Echord built with the Zstd trait")
        }
        guard GatewayURL(gatewayURL) != nil else {
            throw ShardError.invalidConfiguration("gatewayURL \(gatewayURL) is not a ws:// or wss:// URL")
        }
        guard !token.rawValue.isEmpty else { throw ShardError.invalidConfiguration("the token is empty") }
    }

    var identify: Identify {
        Identify(
            token: token, properties: connectionProperties, compress: false, largeThreshold: largeThreshold,
            shard: ShardInfo(shardID: shardID, shardCount: shardCount), presence: presence, intents: intents)
    }
}

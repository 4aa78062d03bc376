import EchordModels

/// Turns a rate into a number of events per tick, and picks their kinds.
struct TrafficGenerator {
    var eventsPerSecond: Double
    private(set) var kinds: [(TrafficEventKind, Double)]
    private var carry = 0.0
    var lastTick: Int64?
    /// Tick period of the generator: 10 ms.
    static let tick: Int64 = 10_000_000

    init(configuration: TrafficConfiguration) {
        eventsPerSecond = max(0, configuration.eventsPerSecond)
        kinds = []
        setMix(configuration.mix)
    }

    mutating func setMix(_ mix: [TrafficEventKind: Double]) {
        var total = 0.0
        kinds = TrafficEventKind.allCases.compactMap { kind in
            guard let weight = mix[kind], weight > 0 else { return nil }
            total += weight
            return (kind, total)
        }
    }

    /// The number of events due between the last tick and `now` (at most one second's worth).
    mutating func due(now: Int64) -> Int {
        defer { lastTick = now }
        guard let lastTick, eventsPerSecond > 0 else { return 0 }
        carry += Double(min(now - lastTick, 1_000_000_000)) / 1e9 * eventsPerSecond
        let count = Int(carry)
        carry -= Double(count)
        return count
    }

    func pick(_ random: inout SplitMix64) -> TrafficEventKind? {
        guard let total = kinds.last?.1 else { return nil }
        let point = Double(random.next() % 1_000_000) / 1_000_000 * total
        return kinds.first(where: { point < $0.1 })?.0 ?? kinds.last?.0
    }
}

extension SimulatorCore {
    /// Starts, changes or stops the traffic generator.
    func setTraffic(eventsPerSecond: Double) {
        let wasRunning = traffic.eventsPerSecond > 0
        traffic.eventsPerSecond = max(0, eventsPerSecond)
        if !wasRunning && traffic.eventsPerSecond > 0 {
            traffic.lastTick = now
            schedule(.trafficTick, after: TrafficGenerator.tick)
        }
    }

    func startTrafficIfConfigured() {
        if traffic.eventsPerSecond > 0 {
            traffic.lastTick = now
            schedule(.trafficTick, after: TrafficGenerator.tick)
        }
    }

    func trafficTick() {
        guard traffic.eventsPerSecond > 0 else { return }
        let count = traffic.due(now: now)
        if !world.guilds.isEmpty && !sessions.isEmpty {
            for _ in 0..<count { generateEvent() }
        }
        schedule(.trafficTick, after: TrafficGenerator.tick)
    }

    /// One synthetic event in a random guild, sent to every session that serves it and asked for it.
    func generateEvent() {
        guard let kind = traffic.pick(&random) else { return }
        let guild = world.guilds[Int(random.next() % UInt64(world.guilds.count))]
        let targets = sessions(serving: guild.id)
        guard !targets.isEmpty else { return }
        let userIndex = guild.memberCount > 0 ? Int(random.next() % UInt64(guild.memberCount)) : 0
        let channelIndex = Int(random.next() % UInt64(guild.textChannelIDs.count))
        let channelID = guild.textChannelIDs[channelIndex].description
        let messageID = nextMessageID()
        var withContent: [UInt8]?
        var withoutContent: [UInt8]?
        for session in targets {
            if let required = GatewayIntents.requiredIntents(forDispatch: kind.rawValue, inGuild: true),
                session.intents.isDisjoint(with: required)
            {
                continue
            }
            let content = session.intents.contains(.messageContent)
            if content, let bytes = withContent {
                dispatch(kind.rawValue, data: bytes, to: session)
                continue
            }
            if !content, let bytes = withoutContent {
                dispatch(kind.rawValue, data: bytes, to: session)
                continue
            }
            let bytes = Self.payload(
                kind, world: world, random: &random, guild: guild, userIndex: userIndex, channelIndex: channelIndex, channelID: channelID,
                messageID: messageID, includeContent: content
            ).serialized()
            if content { withContent = bytes } else { withoutContent = bytes }
            dispatch(kind.rawValue, data: bytes, to: session)
        }
    }
}

extension SimulatorCore {
    static func payload(
        _ kind: TrafficEventKind, world: SimulatorWorld, random: inout SplitMix64, guild: SimulatedGuild, userIndex: Int, channelIndex: Int, channelID: String,
        messageID: Snowflake, includeContent: Bool
    ) -> SimulatorJSON {
        let guildID = SimulatorJSON.string(guild.id.description)
        switch kind {
        case .messageCreate, .messageUpdate:
            let words = ["echord", "gateway", "shard", "resume", "heartbeat", "zlib", "swift", "event", "the", "a"]
            let length = 3 + Int(random.next() % 24)
            let content = (0..<length).map { _ in words[Int(random.next() % UInt64(words.count))] }.joined(separator: " ")
            var message = world.messageCreate(
                id: messageID, guild: guild, channelIndex: channelIndex, authorIndex: userIndex, content: content,
                includeContent: includeContent)
            if kind == .messageUpdate, case .object(var fields) = message {
                if let i = fields.firstIndex(where: { $0.0 == "edited_timestamp" }) {
                    fields[i].1 = .string(SimulatorWorld.isoTimestamp(milliseconds: messageID.timestampMilliseconds + 1000))
                }
                message = .object(fields)
            }
            return message
        case .messageDelete:
            return .object([("id", .string(messageID.description)), ("channel_id", .string(channelID)), ("guild_id", guildID)])
        case .typingStart:
            return .object([
                ("user_id", .string(SimulatorWorld.userID(userIndex).description)),
                ("timestamp", .int(Int64(messageID.timestampMilliseconds / 1000))),
                ("member", world.member(guild: guild, userIndex: userIndex)), ("channel_id", .string(channelID)),
                ("guild_id", guildID),
            ])
        case .presenceUpdate:
            let statuses = ["online", "idle", "dnd", "offline"]
            return world.presence(guild: guild, userIndex: userIndex, status: statuses[Int(random.next() % 4)])
        case .guildMemberUpdate:
            guard case .object(var fields) = world.member(guild: guild, userIndex: userIndex) else { return nil }
            fields.insert(("guild_id", guildID), at: 0)
            return .object(fields)
        case .messageReactionAdd, .messageReactionRemove:
            var fields: [(String, SimulatorJSON)] = [
                ("user_id", .string(SimulatorWorld.userID(userIndex).description)), ("type", 0),
                ("message_id", .string(messageID.description)),
            ]
            if kind == .messageReactionAdd {
                fields += [
                    ("message_author_id", .string(SimulatorWorld.userID(0).description)),
                    ("member", world.member(guild: guild, userIndex: userIndex)),
                ]
            }
            fields += [
                ("emoji", .object([("name", "🔥"), ("id", nil)])), ("channel_id", .string(channelID)), ("burst", false),
                ("guild_id", guildID),
            ]
            if kind == .messageReactionAdd { fields.append(("burst_colors", [])) }
            return .object(fields)
        }
    }
}

/// The simulator's synthetic traffic as standalone bytes, for benchmarks of any client: the same
/// payloads a running simulator sends, framed and compressed as it would send them.
public enum SimulatorTrafficSample {
    /// `count` dispatches of the configured mix (`configuration.traffic.mix`) for shard 0 of 1, as
    /// the gateway messages (uncompressed JSON) and the WebSocket frames that carry them with
    /// `compression`.
    public static func make(
        count: Int, compression: TransportCompression, configuration: SimulatorConfiguration = SimulatorConfiguration()
    ) -> (messages: [[UInt8]], frames: [[UInt8]]) {
        var configuration = configuration
        configuration.world.guildCount = max(configuration.world.guildCount, 1)
        let world = SimulatorWorld(configuration: configuration.world)
        var random = SplitMix64(seed: configuration.world.seed)
        let traffic = TrafficGenerator(configuration: configuration.traffic)
        let compressor: TransportCompressor? = switch compression {
        case .none: nil
        case .zlibStream: ZlibStreamCompressor()
        case .zstdStream: ZstdRawStreamEncoder()
        }
        var messages: [[UInt8]] = []
        var frames: [[UInt8]] = []
        var counter: UInt64 = 0
        for sequence in 1...max(count, 1) {
            guard let kind = traffic.pick(&random) else { break }
            let guild = world.guilds[Int(random.next() % UInt64(world.guilds.count))]
            let userIndex = guild.memberCount > 0 ? Int(random.next() % UInt64(guild.memberCount)) : 0
            let channelIndex = Int(random.next() % UInt64(guild.textChannelIDs.count))
            counter += 1
            let id = Snowflake(timestampMilliseconds: 1_700_000_000_000 + counter / 4096, workerID: 7, increment: UInt16(counter % 4096))
            let data = SimulatorCore.payload(
                kind, world: world, random: &random, guild: guild, userIndex: userIndex, channelIndex: channelIndex,
                channelID: guild.textChannelIDs[channelIndex].description, messageID: id, includeContent: true
            ).serialized()
            var message = Array("{\"t\":\"\(kind.rawValue)\",\"s\":\(sequence),\"op\":0,\"d\":".utf8)
            message += data
            message.append(UInt8(ascii: "}"))
            messages.append(message)
            frames.append(compressor?.compress(message) ?? message)
        }
        return (messages, frames)
    }
}

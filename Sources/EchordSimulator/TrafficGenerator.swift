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
            let bytes = trafficPayload(
                kind, guild: guild, userIndex: userIndex, channelIndex: channelIndex, channelID: channelID,
                messageID: messageID, includeContent: content
            ).serialized()
            if content { withContent = bytes } else { withoutContent = bytes }
            dispatch(kind.rawValue, data: bytes, to: session)
        }
    }

    private func trafficPayload(
        _ kind: TrafficEventKind, guild: SimulatedGuild, userIndex: Int, channelIndex: Int, channelID: String,
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

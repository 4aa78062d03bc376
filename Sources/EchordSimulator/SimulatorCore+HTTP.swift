import EchordModels
import Foundation

/// An HTTP answer of the simulator.
struct SimulatorHTTPResponse {
    var status: Int
    var body: [UInt8]
    var headers: [(String, String)] = []

    static func json(_ value: SimulatorJSON, status: Int = 200) -> SimulatorHTTPResponse {
        SimulatorHTTPResponse(status: status, body: value.serialized())
    }

    static func error(_ status: Int, _ message: String, code: Int = 0) -> SimulatorHTTPResponse {
        .json(.object([("message", .string(message)), ("code", .int(Int64(code)))]), status: status)
    }
}

extension SimulatorCore {
    /// Answers a REST or control request.
    func handleHTTP(
        method: String, path: String, query: [String: String], authorization: String?, body: [UInt8]
    ) -> SimulatorHTTPResponse {
        if path.hasPrefix("/api/v10/") {
            return rest(method: method, route: String(path.dropFirst("/api/v10".count)), authorization: authorization)
        }
        if path.hasPrefix("/control/") || path == "/control" {
            return control(method: method, route: String(path.dropFirst("/control".count)), query: query, body: body)
        }
        if path == "/" || path == "/health" {
            return .json(.object([("simulator", "echord"), ("gateway", .string(gatewayURL))]))
        }
        return .error(404, "404: Not Found")
    }

    // MARK: REST

    private func rest(method: String, route: String, authorization: String?) -> SimulatorHTTPResponse {
        let route = route.hasSuffix("/") && route.count > 1 ? String(route.dropLast()) : route
        guard method == "GET" else { return .error(405, "405: Method Not Allowed") }
        if route == "/gateway" {
            return .json(.object([("url", .string(gatewayURL))]))
        }
        let known = ["/gateway/bot", "/users/@me", "/oauth2/applications/@me"]
        guard known.contains(route) else { return .error(404, "404: Not Found") }
        guard let authorization, authorization.hasPrefix("Bot "),
            case let token = String(authorization.dropFirst(4)), tokenIsAccepted(token)
        else {
            logger.notice("REST request with a missing or invalid token", metadata: ["route": "\(route)"])
            return .error(401, "401: Unauthorized")
        }
        let botUserID = BotToken(token).botUserID ?? Snowflake(rawValue: 1_191_168_914_227_331_073)
        switch route {
        case "/gateway/bot":
            let now = self.now
            if now >= sessionStartWindowEnd {
                sessionStartsRemaining = configuration.sessionStartLimitTotal
                sessionStartWindowEnd = now + Self.ms(configuration.sessionStartLimitResetMilliseconds)
            }
            return .json(.object([
                ("url", .string(gatewayURL)), ("shards", .int(Int64(configuration.recommendedShards))),
                ("session_start_limit", .object([
                    ("total", .int(Int64(configuration.sessionStartLimitTotal))),
                    ("remaining", .int(Int64(sessionStartsRemaining))),
                    ("reset_after", .int((sessionStartWindowEnd - now) / 1_000_000)),
                    ("max_concurrency", .int(Int64(configuration.maxConcurrency))),
                ])),
            ]))
        case "/users/@me":
            return .json(SimulatorWorld.botUser(id: botUserID))
        default:
            let owner = SimulatorWorld.userObject(id: SimulatorWorld.userID(0), username: SimulatorWorld.username(0), bot: false)
            return .json(.object([
                ("id", .string(botUserID.description)), ("name", "echord-sim-bot"), ("icon", nil),
                ("description", ""), ("summary", ""), ("type", nil), ("hook", true), ("bot_public", true),
                ("bot_require_code_grant", false), ("verify_key", "a2f0c9e1d3b4a5968778695a4b3c2d1e0f1a2b3c4d5e6f708192a3b4c5d6e7f8"),
                ("owner", owner), ("flags", 565248), ("team", nil), ("guild_id", nil), ("primary_sku_id", nil),
                ("slug", nil), ("cover_image", nil), ("rpc_origins", []), ("terms_of_service_url", nil),
                ("privacy_policy_url", nil), ("custom_install_url", nil), ("install_params", nil),
                ("integration_types_config", .object([])), ("approximate_guild_count", .int(Int64(world.guilds.count))),
                ("tags", []), ("redirect_uris", []), ("interactions_endpoint_url", nil),
                ("bot", SimulatorWorld.botUser(id: botUserID)),
            ]))
        }
    }

    // MARK: Control API

    private func parseTarget(_ query: [String: String]) -> SimulatorTarget? {
        if let shard = query["shard"] { return Int(shard).map { .shard($0) } }
        if let session = query["session"] { return .session(session) }
        if let connection = query["connection"] { return Int(connection).map { .connection($0) } }
        return .all
    }

    private func control(method: String, route: String, query: [String: String], body: [UInt8]) -> SimulatorHTTPResponse {
        if method == "GET" {
            switch route {
            case "/sessions":
                return .json(.array(sessionInfos().map(\.json)))
            case "/log":
                let since = Int(query["since"] ?? "") ?? 0
                let limit = Int(query["limit"] ?? "") ?? 1000
                return .json(.array(logEntries(since: since).prefix(limit).map(\.json)))
            case "/chaos/report":
                return .json(chaosReport().json)
            case "/violations":
                let entries = logEntries(since: 0).filter { if case .violation = $0.kind { true } else { false } }
                return .json(.array(entries.map(\.json)))
            default:
                return .error(404, "unknown control route \(route); see the README")
            }
        }
        guard method == "POST" else { return .error(405, "405: Method Not Allowed") }
        guard let target = parseTarget(query) else { return .error(400, "shard and connection take integers") }
        let fault: SimulatorFault
        switch route {
        case "/reconnect": fault = .reconnect
        case "/invalid-session": fault = .invalidSession(resumable: query["resumable"] == "true")
        case "/close":
            guard let code = UInt16(query["code"] ?? ""), (1000...4999).contains(code) else {
                return .error(400, "close needs ?code=NNNN, 1000-4999")
            }
            fault = .close(code: code)
        case "/drop": fault = .dropConnection
        case "/zombie": fault = .stopHeartbeatAcks
        case "/unzombie": fault = .resumeHeartbeatAcks
        case "/freeze": fault = .freeze
        case "/thaw": fault = .thaw
        case "/malformed": fault = .malformedFrame
        case "/heartbeat-request": fault = .requestHeartbeat
        case "/restart": fault = .restart
        case "/expire-sessions": fault = .expireSessions
        case "/traffic":
            guard let rate = Double(query["rate"] ?? ""), rate >= 0 else { return .error(400, "traffic needs ?rate=R") }
            setTraffic(eventsPerSecond: rate)
            return .json(.object([("events_per_second", .double(rate))]))
        case "/dispatch":
            guard let name = query["t"], !name.isEmpty else { return .error(400, "dispatch needs ?t=EVENT_NAME") }
            guard (try? JSONSerialization.jsonObject(with: Data(body), options: [.fragmentsAllowed])) != nil else {
                return .error(400, "the body must be the event's d as JSON")
            }
            let guild = query["guild"].flatMap { Snowflake($0) }
            return .json(.object([("affected", .int(Int64(dispatchCustom(eventName: name, data: body, guildID: guild))))]))
        default:
            return .error(404, "unknown control route \(route); see the README")
        }
        let affected = inject(fault, target: target)
        return .json(.object([("fault", .string(fault.controlName)), ("affected", .int(Int64(affected)))]))
    }

    func sessionInfos() -> [SimulatorSessionInfo] {
        sessions.values.sorted { $0.id < $1.id }.map {
            SimulatorSessionInfo(
                id: $0.id, botUserID: $0.botUserID, shardID: $0.shardID, shardCount: $0.shardCount,
                intents: $0.intents, sequence: $0.sequence, connectionID: $0.connection?.id)
        }
    }
}

/// A snapshot of one session.
public struct SimulatorSessionInfo: Sendable, Equatable {
    /// The `session_id` sent in READY.
    public let id: String
    /// The bot the session belongs to.
    public let botUserID: Snowflake
    /// The shard id from IDENTIFY (0 without `shard`).
    public let shardID: Int
    /// The shard count from IDENTIFY (1 without `shard`).
    public let shardCount: Int
    /// The intents from IDENTIFY.
    public let intents: GatewayIntents
    /// The last sequence number sent.
    public let sequence: Int
    /// The connection serving it, or nil while it waits for a RESUME.
    public let connectionID: Int?

    var json: SimulatorJSON {
        .object([
            ("session_id", .string(id)), ("bot_user_id", .string(botUserID.description)),
            ("shard", [.int(Int64(shardID)), .int(Int64(shardCount))]), ("intents", .int(Int64(intents.rawValue))),
            ("seq", .int(Int64(sequence))), ("connection", connectionID.map { .int(Int64($0)) } ?? .null),
        ])
    }
}

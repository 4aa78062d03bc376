import EchordModels
import EchordSimulator
import EchordTestSupport
import Testing

@Suite("REST discovery under /api/v10", .timeLimit(.minutes(3 * TestTime.scale)))
struct RESTTests {
    static let authorization = ("Authorization", "Bot \(TestGatewayClient.token)")

    /// The response's Content-Type headers, exactly as sent.
    static func contentTypes(_ headers: [(String, String)]) -> [String] {
        headers.filter { $0.0.lowercased() == "content-type" }.map(\.1)
    }

    static func object(_ body: String) throws -> JSONValue {
        let json = try #require(JSONValue.parsedJSON(body), "not JSON: \(body)")
        #expect(json.objectKeys != nil, "not an object: \(body)")
        return json
    }

    @Test("a query item with an empty key (`?=&a=1`) is answered, not a crash (found by the simulator fuzzer)")
    func emptyQueryKey() async throws {
        try await withSimulator { simulator in
            let response = try await httpGet(port: simulator.port, path: "/api/v10/gateway?=&v=10&=x")
            #expect(response.status == 200)
            let json = try Self.object(response.body)
            #expect(json["url"]?.stringValue == simulator.gatewayURL)
            let gateway = try await httpGet(port: simulator.port, path: "/gateway?=&encoding=json")
            #expect(gateway.status == 400, "a plain GET of the gateway path is a refused handshake")
        }
    }

    @Test("GET /gateway answers the gateway URL without a token")
    func gateway() async throws {
        try await withSimulator { simulator in
            let response = try await httpGet(port: simulator.port, path: "/api/v10/gateway")
            #expect(response.status == 200)
            #expect(Self.contentTypes(response.headers) == ["application/json"])
            let json = try Self.object(response.body)
            #expect(json["url"]?.stringValue == simulator.gatewayURL)
            #expect(json["url"]?.stringValue == "ws://127.0.0.1:\(simulator.port)/gateway")
        }
    }

    @Test("GET /gateway/bot answers url, shards and session_start_limit from the configuration")
    func gatewayBot() async throws {
        try await withSimulator({ configuration in
            configuration.recommendedShards = 3
            configuration.sessionStartLimitTotal = 1000
            configuration.sessionStartLimitRemaining = 997
            configuration.sessionStartLimitResetMilliseconds = 3_600_000
            configuration.maxConcurrency = 4
        }) { simulator in
            let response = try await httpGet(port: simulator.port, path: "/api/v10/gateway/bot", headers: [Self.authorization])
            #expect(response.status == 200)
            #expect(Self.contentTypes(response.headers) == ["application/json"])
            let json = try Self.object(response.body)
            #expect(json["url"]?.stringValue == simulator.gatewayURL)
            #expect(json["shards"]?.integerValue == 3)
            let limit = try #require(json["session_start_limit"])
            #expect(limit.objectKeys == ["total", "remaining", "reset_after", "max_concurrency"])
            #expect(limit["total"]?.integerValue == 1000)
            #expect(limit["remaining"]?.integerValue == 997)
            #expect(limit["reset_after"]?.integerValue == 3_600_000)
            #expect(limit["max_concurrency"]?.integerValue == 4)

            // An IDENTIFY uses one start, and reset_after counts down with simulator time.
            let client = try await TestGatewayClient.connect(port: simulator.port)
            _ = try await client.identifyAndReadGuilds()
            try await simulator.advanceTime(by: .seconds(1))
            let after = try await httpGet(port: simulator.port, path: "/api/v10/gateway/bot", headers: [Self.authorization])
            let afterLimit = try #require(try Self.object(after.body)["session_start_limit"])
            #expect(afterLimit["remaining"]?.integerValue == 996)
            #expect(afterLimit["reset_after"]?.integerValue == 3_599_000)
        }
    }

    @Test("GET /users/@me answers the bot user the token names")
    func usersMe() async throws {
        try await withSimulator { simulator in
            let response = try await httpGet(port: simulator.port, path: "/api/v10/users/@me", headers: [Self.authorization])
            #expect(response.status == 200)
            #expect(Self.contentTypes(response.headers) == ["application/json"])
            let user = try Self.object(response.body)
            #expect(user["id"]?.stringValue == testBotUserID)
            #expect(user["username"]?.stringValue?.isEmpty == false)
            #expect(user["discriminator"]?.stringValue != nil)
            #expect(user["avatar"] == .null)
            #expect(user["bot"] == .bool(true))

            // Another well-formed token names another bot.
            let other = try await httpGet(
                port: simulator.port, path: "/api/v10/users/@me",
                headers: [("Authorization", "Bot MTIzNDU2Nzg5MDEyMzQ1Njc4.other.bot")])
            #expect(other.status == 200)
            #expect(try Self.object(other.body)["id"]?.stringValue == "123456789012345678")
        }
    }

    @Test("GET /oauth2/applications/@me answers the application with the fields discord.py reads")
    func applicationMe() async throws {
        try await withSimulator { simulator in
            let response = try await httpGet(
                port: simulator.port, path: "/api/v10/oauth2/applications/@me", headers: [Self.authorization])
            #expect(response.status == 200)
            #expect(Self.contentTypes(response.headers) == ["application/json"])
            let app = try Self.object(response.body)
            let keys = try #require(app.objectKeys)
            let required: Set<String> = [
                "id", "name", "icon", "description", "bot_public", "bot_require_code_grant", "verify_key", "owner",
                "flags",
            ]
            #expect(required.isSubset(of: keys), "missing \(required.subtracting(keys).sorted())")
            #expect(app["id"]?.stringValue == testBotUserID)
            #expect(app["name"]?.stringValue?.isEmpty == false)
            #expect(app["icon"] == .null)
            #expect(app["description"]?.stringValue != nil)
            #expect(app["bot_public"]?.boolValue != nil)
            #expect(app["bot_require_code_grant"]?.boolValue != nil)
            #expect(app["verify_key"]?.stringValue?.isEmpty == false)
            #expect(app["flags"]?.integerValue != nil)
            let owner = try #require(app["owner"])
            #expect(owner["id"]?.stringValue != nil)
            #expect(owner["username"]?.stringValue != nil)
        }
    }

    @Test("a missing or bad token gets 401 with a Discord-style JSON body",
          arguments: ["/api/v10/gateway/bot", "/api/v10/users/@me", "/api/v10/oauth2/applications/@me"],
          [nil, "Bot not-a-token", "Bearer \(TestGatewayClient.token)", TestGatewayClient.token, "Bot a.b"] as [String?])
    func unauthorized(path: String, authorization: String?) async throws {
        try await withSimulator { simulator in
            let response = try await httpGet(
                port: simulator.port, path: path, headers: authorization.map { [("Authorization", $0)] } ?? [])
            #expect(response.status == 401)
            #expect(Self.contentTypes(response.headers) == ["application/json"])
            let error = try Self.object(response.body)
            #expect(error["message"]?.stringValue?.isEmpty == false)
            #expect(error["code"]?.numberValue != nil)
        }
    }

    @Test("with acceptedTokens configured, a well-formed token outside the set gets 401")
    func acceptedTokens() async throws {
        try await withSimulator({ $0.acceptedTokens = [TestGatewayClient.token] }) { simulator in
            let good = try await httpGet(port: simulator.port, path: "/api/v10/users/@me", headers: [Self.authorization])
            #expect(good.status == 200)
            let bad = try await httpGet(
                port: simulator.port, path: "/api/v10/users/@me",
                headers: [("Authorization", "Bot MTIzNDU2Nzg5MDEyMzQ1Njc4.other.bot")])
            #expect(bad.status == 401)
        }
    }

    @Test("an unknown route gets 404 with a JSON body", arguments: ["/api/v10/nothing", "/api/v10/users/@me/guilds", "/nowhere"])
    func unknownRoute(path: String) async throws {
        try await withSimulator { simulator in
            let response = try await httpGet(port: simulator.port, path: path, headers: [Self.authorization])
            #expect(response.status == 404)
            #expect(Self.contentTypes(response.headers) == ["application/json"])
            let error = try Self.object(response.body)
            #expect(error["message"]?.stringValue?.isEmpty == false)
            #expect(error["code"]?.numberValue != nil)
        }
    }
}

import EchordModels
import EchordSimulator
import EchordTestSupport
import Foundation
import Testing

/// How a test injects a fault: through the Swift API or the HTTP control API.
enum FaultRoute: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case swiftAPI
    case controlAPI

    var testDescription: String { rawValue }

    /// Injects `fault` on `target` and returns how many connections or sessions it touched.
    func inject(_ fault: SimulatorFault, target: SimulatorTarget = .all, on simulator: GatewaySimulator) async throws
        -> Int
    {
        switch self {
        case .swiftAPI:
            return try await simulator.inject(fault, target: target)
        case .controlAPI:
            var parameters: [String] = []
            switch target {
            case .all: break
            case .shard(let id): parameters.append("shard=\(id)")
            case .session(let id): parameters.append("session=\(id)")
            case .connection(let id): parameters.append("connection=\(id)")
            }
            switch fault {
            case .invalidSession(let resumable): parameters.append("resumable=\(resumable)")
            case .close(let code): parameters.append("code=\(code)")
            default: break
            }
            let path = "/control/\(fault.controlName)" + (parameters.isEmpty ? "" : "?" + parameters.joined(separator: "&"))
            let response = try await httpPost(port: simulator.port, path: path)
            #expect(response.status == 200, "\(path): \(response.body)")
            let json = try #require(JSONValue.parsedJSON(response.body), "\(path): \(response.body)")
            #expect(json["fault"]?.stringValue == fault.controlName)
            return try #require(json["affected"]?.integerValue)
        }
    }
}

@Suite("Fault injection through the Swift API and the HTTP control API", .timeLimit(.minutes(3 * TestTime.scale)))
struct FaultTests {
    private static func event(_ n: Int) -> SimulatorJSON { .object([("n", .int(Int64(n)))]) }

    /// Two shards, both identifying at once (two identify buckets).
    private static func twoShards(_ configuration: inout SimulatorConfiguration) {
        configuration.maxConcurrency = 2
    }

    @Test("reconnect: op 7, then a 4000 close 5 s later if the client stays; the session stays resumable",
          arguments: FaultRoute.allCases)
    func reconnect(route: FaultRoute) async throws {
        try await withSimulator { simulator in
            let client = try await TestGatewayClient.connect(port: simulator.port)
            let (sessionID, last, _) = try await client.identifyAndReadGuilds()
            #expect(try await route.inject(.reconnect, on: simulator) == 1)
            let reconnect = try await client.nextPayload()
            #expect(reconnect.op == 7 && reconnect.data == .null)

            try await simulator.dispatch(eventName: "ECHORD_TEST", data: Self.event(1))
            try await simulator.advanceTime(by: .seconds(4))
            // Still open after 4 s, and the dispatch was held back.
            #expect(try await client.payloadsBeforeHeartbeatAck().isEmpty)
            try await simulator.advanceTime(by: .seconds(1))
            #expect(try await client.nextClose() == 4000)
            #expect(try await simulator.serverCloseCodes() == [4000])

            try await simulator.waitUntilDetached(sessionID)
            let resumed = try await TestGatewayClient.connect(port: simulator.port, path: "/resume")
            try await resumed.helloThenResume(sessionID: sessionID, sequence: last)
            let replayed = try await resumed.nextPayload()
            #expect(replayed.eventName == "ECHORD_TEST" && replayed.sequence == last + 1)
            #expect(try await resumed.nextPayload().eventName == "RESUMED")
        }
    }

    @Test("invalid-session: op 9 with d = resumable; not resumable deletes the session",
          arguments: FaultRoute.allCases, [true, false])
    func invalidSession(route: FaultRoute, resumable: Bool) async throws {
        try await withSimulator { simulator in
            let client = try await TestGatewayClient.connect(port: simulator.port)
            let (sessionID, last, _) = try await client.identifyAndReadGuilds()
            #expect(try await route.inject(.invalidSession(resumable: resumable), on: simulator) == 1)
            let invalid = try await client.nextPayload()
            #expect(invalid.op == 9)
            #expect(invalid.data == .bool(resumable))
            if resumable {
                #expect(try await simulator.sessions().map(\.id) == [sessionID])
                let resumed = try await TestGatewayClient.connect(port: simulator.port, path: "/resume")
                try await resumed.helloThenResume(sessionID: sessionID, sequence: last)
                #expect(try await resumed.nextPayload().eventName == "RESUMED")
            } else {
                #expect(try await simulator.sessions().isEmpty)
                // The socket stays open; a fresh IDENTIFY (after the identify bucket) starts a new session.
                try await simulator.advanceTime(by: .seconds(5))
                try await client.identify()
                let ready = try await client.nextPayload()
                #expect(ready.eventName == "READY" && ready.sequence == 1)
                let newID = try #require(ready.data?["session_id"]?.stringValue)
                #expect(newID != sessionID)
                #expect(try await simulator.sessions().map(\.id) == [newID])
            }
            #expect(try await simulator.brokenRules() == [])
        }
    }

    @Test("close: the client sees the close code; the session stays", arguments: FaultRoute.allCases, [4000, 4009] as [UInt16])
    func close(route: FaultRoute, code: UInt16) async throws {
        try await withSimulator { simulator in
            let client = try await TestGatewayClient.connect(port: simulator.port)
            let (sessionID, _, _) = try await client.identifyAndReadGuilds()
            #expect(try await route.inject(.close(code: code), on: simulator) == 1)
            #expect(try await client.nextClose() == code)
            #expect(try await simulator.serverCloseCodes() == [code])
            try await simulator.waitUntilDetached(sessionID)
            #expect(try await simulator.sessions().map(\.id) == [sessionID])
        }
    }

    @Test("drop: the TCP connection ends without a close frame; the session is kept and resumable",
          arguments: FaultRoute.allCases)
    func drop(route: FaultRoute) async throws {
        try await withSimulator { simulator in
            let client = try await TestGatewayClient.connect(port: simulator.port)
            let (sessionID, last, _) = try await client.identifyAndReadGuilds()
            #expect(try await route.inject(.dropConnection, on: simulator) == 1)
            let end = try await client.next()
            #expect(end.isConnectionEnd, "got \(end)")
            #expect(try await simulator.serverCloseCodes() == [])
            try await simulator.waitUntilDetached(sessionID)
            let resumed = try await TestGatewayClient.connect(port: simulator.port, path: "/resume")
            try await resumed.helloThenResume(sessionID: sessionID, sequence: last)
            #expect(try await resumed.nextPayload().eventName == "RESUMED")
        }
    }

    @Test("zombie: heartbeats are no longer ACKed while events still flow; unzombie restores ACKs",
          arguments: FaultRoute.allCases)
    func zombie(route: FaultRoute) async throws {
        try await withSimulator { simulator in
            let client = try await TestGatewayClient.connect(port: simulator.port)
            let (_, last, _) = try await client.identifyAndReadGuilds()
            #expect(try await route.inject(.stopHeartbeatAcks, on: simulator) == 1)

            let mark = try await simulator.nextLogIndex()
            try await client.heartbeat(last)
            try await simulator.waitForLogEntry(since: mark) { $0.kind == .received && $0.opcode == 1 }
            // The heartbeat has been handled; an ACK would now arrive before this dispatch.
            try await simulator.dispatch(eventName: "ECHORD_TEST", data: Self.event(1))
            let next = try await client.next()
            #expect(next.op == 0 && next.eventName == "ECHORD_TEST", "got \(next)")

            #expect(try await route.inject(.resumeHeartbeatAcks, on: simulator) == 1)
            try await client.heartbeat(last + 1)
            let ack = try await client.next()
            #expect(ack.op == 11, "got \(ack)")
        }
    }

    @Test("freeze: frames are held, not sent; thaw delivers them in order before later ones", arguments: FaultRoute.allCases)
    func freeze(route: FaultRoute) async throws {
        try await withSimulator { simulator in
            let client = try await TestGatewayClient.connect(port: simulator.port)
            let (sessionID, last, _) = try await client.identifyAndReadGuilds()
            let connection = try #require(try await simulator.connectionID(of: sessionID))
            #expect(try await route.inject(.freeze, on: simulator) == 1)
            try await simulator.dispatch(eventName: "WHILE_FROZEN", data: Self.event(1))
            // A frozen socket is not treated as a missed heartbeat.
            try await simulator.advanceTime(by: .seconds(120))
            #expect(try await simulator.serverCloseCodes() == [])
            // Held, so not logged as sent.
            #expect(try await simulator.sentDispatches(onConnection: connection).map(\.name).contains("WHILE_FROZEN") == false)

            #expect(try await route.inject(.thaw, on: simulator) == 1)
            try await simulator.dispatch(eventName: "AFTER_THAW", data: Self.event(2))
            let held = try await client.nextPayload()
            #expect(held.eventName == "WHILE_FROZEN" && held.sequence == last + 1, "got \(held)")
            let next = try await client.nextPayload()
            #expect(next.eventName == "AFTER_THAW" && next.sequence == last + 2, "got \(next)")
            #expect(try await client.payloadsBeforeHeartbeatAck().isEmpty)
            #expect(try await simulator.sentDispatches(onConnection: connection).suffix(2).map(\.sequence) == [last + 1, last + 2])
        }
    }

    @Test("after a thaw, a client that stays silent is still closed for the missed heartbeat",
          arguments: FaultRoute.allCases)
    func thawRearmsHeartbeatDeadline(route: FaultRoute) async throws {
        try await withSimulator({ $0.heartbeatIntervalMilliseconds = 10_000 }) { simulator in
            let client = try await TestGatewayClient.connect(port: simulator.port)
            _ = try await client.identifyAndReadGuilds()
            #expect(try await route.inject(.freeze, on: simulator) == 1)
            // The first deadline (10 s + 50 % grace) passes while frozen: no close.
            try await simulator.advanceTime(by: .seconds(20))
            #expect(try await simulator.serverCloseCodes() == [])
            #expect(try await route.inject(.thaw, on: simulator) == 1)
            // Thawed, the client owes a heartbeat within interval + grace; it sends none.
            try await simulator.advanceTime(by: .seconds(16))
            #expect(try await simulator.serverCloseCodes() == [4000])
            #expect(try await client.nextClose() == 4000)
        }
    }

    @Test("malformed: the client receives a payload that is not valid JSON", arguments: FaultRoute.allCases)
    func malformed(route: FaultRoute) async throws {
        try await withSimulator { simulator in
            let client = try await TestGatewayClient.connect(port: simulator.port)
            _ = try await client.identifyAndReadGuilds()
            #expect(try await route.inject(.malformedFrame, on: simulator) == 1)
            let bad = try await client.next()
            let text = try #require(bad.payloadText, "got \(bad)")
            #expect(!text.isEmpty)
            #expect((try? JSONSerialization.jsonObject(with: Data(text.utf8), options: [.fragmentsAllowed])) == nil,
                    "\(text) parsed as JSON")
        }
    }

    @Test("heartbeat-request: op 1 arrives; answering in time is fine, ignoring it is logged",
          arguments: FaultRoute.allCases)
    func heartbeatRequest(route: FaultRoute) async throws {
        try await withSimulator { simulator in
            let client = try await TestGatewayClient.connect(port: simulator.port)
            let (_, last, _) = try await client.identifyAndReadGuilds()
            #expect(try await route.inject(.requestHeartbeat, on: simulator) == 1)
            let request = try await client.nextPayload()
            #expect(request.op == 1 && request.data == .null)
            try await client.heartbeat(last)
            #expect(try await client.next().op == 11)
            try await simulator.advanceTime(by: .seconds(3))
            #expect(try await simulator.brokenRules() == [])

            #expect(try await route.inject(.requestHeartbeat, on: simulator) == 1)
            #expect(try await client.nextPayload().op == 1)
            try await simulator.advanceTime(by: .seconds(2))
            #expect(try await simulator.brokenRules() == ["did not answer the server's heartbeat request (op 1) in time"])
        }
    }

    @Test("restart: every socket is dropped, sessions are kept and resumable", arguments: FaultRoute.allCases)
    func restart(route: FaultRoute) async throws {
        try await withSimulator(Self.twoShards) { simulator in
            let a = try await TestGatewayClient.connect(port: simulator.port)
            let (sessionA, lastA, _) = try await a.identifyAndReadGuilds(shard: (0, 2))
            let b = try await TestGatewayClient.connect(port: simulator.port)
            let (sessionB, lastB, _) = try await b.identifyAndReadGuilds(shard: (1, 2))
            // A socket that never identified is dropped too.
            let idle = try await TestGatewayClient.connect(port: simulator.port)
            #expect(try await idle.nextPayload().op == 10)

            #expect(try await route.inject(.restart, on: simulator) == 3)
            #expect(try await a.next().isConnectionEnd)
            #expect(try await b.next().isConnectionEnd)
            #expect(try await idle.next().isConnectionEnd)
            #expect(try await simulator.serverCloseCodes() == [])
            try await simulator.waitUntilDetached(sessionA)
            try await simulator.waitUntilDetached(sessionB)
            #expect(try await simulator.sessions().map(\.id).sorted() == [sessionA, sessionB].sorted())

            for (session, last) in [(sessionA, lastA), (sessionB, lastB)] {
                let resumed = try await TestGatewayClient.connect(port: simulator.port, path: "/resume")
                try await resumed.helloThenResume(sessionID: session, sequence: last)
                let marker = try await resumed.nextPayload()
                #expect(marker.eventName == "RESUMED" && marker.sequence == last + 1)
            }
        }
    }

    @Test("expire-sessions: a connected client gets 4009 and no session is left", arguments: FaultRoute.allCases)
    func expireSessions(route: FaultRoute) async throws {
        try await withSimulator { simulator in
            let client = try await TestGatewayClient.connect(port: simulator.port)
            let (sessionID, last, _) = try await client.identifyAndReadGuilds()
            #expect(try await route.inject(.expireSessions, on: simulator) == 1)
            #expect(try await client.nextClose() == 4009)
            #expect(try await simulator.sessions().isEmpty)
            let late = try await TestGatewayClient.connect(port: simulator.port, path: "/resume")
            try await late.helloThenResume(sessionID: sessionID, sequence: last)
            let invalid = try await late.nextPayload()
            #expect(invalid.op == 9 && invalid.data == .bool(false))
        }
    }

    @Test("a shard target hits only that shard's connection", arguments: FaultRoute.allCases)
    func shardTarget(route: FaultRoute) async throws {
        try await withSimulator(Self.twoShards) { simulator in
            let shard0 = try await TestGatewayClient.connect(port: simulator.port)
            let (session0, _, _) = try await shard0.identifyAndReadGuilds(shard: (0, 2))
            let shard1 = try await TestGatewayClient.connect(port: simulator.port)
            let (session1, _, _) = try await shard1.identifyAndReadGuilds(shard: (1, 2))

            #expect(try await route.inject(.requestHeartbeat, target: .shard(0), on: simulator) == 1)
            #expect(try await shard0.nextPayload().op == 1)
            #expect(try await shard1.payloadsBeforeHeartbeatAck().isEmpty)

            #expect(try await route.inject(.close(code: 4000), target: .shard(1), on: simulator) == 1)
            #expect(try await shard1.nextClose() == 4000)
            try await shard0.heartbeat(nil)
            #expect(try await shard0.next().op == 11, "shard 0 still open")

            // A session target.
            let connection0 = try #require(try await simulator.connectionID(of: session0))
            #expect(try await route.inject(.invalidSession(resumable: false), target: .session(session0), on: simulator) == 1)
            #expect(try await shard0.nextPayload().op == 9)
            #expect(try await simulator.sessions().map(\.id) == [session1])
            // A connection target (the socket outlives its invalidated session).
            #expect(try await route.inject(.dropConnection, target: .connection(connection0 + 100), on: simulator) == 0)
            #expect(try await route.inject(.dropConnection, target: .connection(connection0), on: simulator) == 1)
            #expect(try await shard0.next().isConnectionEnd)
            // A shard nobody holds.
            #expect(try await route.inject(.reconnect, target: .shard(5), on: simulator) == 0)
        }
    }
}

@Suite("The HTTP control API", .timeLimit(.minutes(3 * TestTime.scale)))
struct ControlAPITests {
    @Test("GET /control/sessions, /control/log and /control/violations return JSON arrays")
    func inspectionRoutes() async throws {
        try await withSimulator { simulator in
            let client = try await TestGatewayClient.connect(port: simulator.port)
            let (sessionID, last, _) = try await client.identifyAndReadGuilds()

            let sessions = try await httpGet(port: simulator.port, path: "/control/sessions")
            #expect(sessions.status == 200)
            let sessionList = try #require(JSONValue.parsedJSON(sessions.body)?.arrayElements, "\(sessions.body)")
            #expect(sessionList.count == 1)
            #expect(sessionList.first?["session_id"]?.stringValue == sessionID)
            #expect(sessionList.first?["seq"]?.integerValue == last)
            #expect(sessionList.first?["shard"] == .array([.number(0), .number(1)]))
            #expect(sessionList.first?["connection"]?.integerValue != nil)

            let log = try await httpGet(port: simulator.port, path: "/control/log")
            #expect(log.status == 200)
            let entries = try #require(JSONValue.parsedJSON(log.body)?.arrayElements, "\(log.body)")
            #expect(entries.first?["kind"]?.stringValue == "connected")
            let identify = entries.first { $0["kind"]?.stringValue == "received" && $0["op"]?.integerValue == 2 }
            #expect(identify?["text"]?.stringValue?.contains("<redacted>") == true)
            #expect(!log.body.contains(TestGatewayClient.token))
            let page = try await httpGet(port: simulator.port, path: "/control/log?since=2&limit=3")
            let pageEntries = try #require(JSONValue.parsedJSON(page.body)?.arrayElements)
            #expect(pageEntries.compactMap { $0["index"]?.integerValue } == [2, 3, 4])

            let noViolations = try await httpGet(port: simulator.port, path: "/control/violations")
            #expect(noViolations.status == 200)
            #expect(JSONValue.parsedJSON(noViolations.body) == .array([]))

            let other = try await TestGatewayClient.connect(port: simulator.port, path: "/resume")
            try await other.helloThenResume(sessionID: "ffffffffffffffffffffffffffffffff", sequence: 1)
            #expect(try await other.nextPayload().op == 9)
            let violations = try await httpGet(port: simulator.port, path: "/control/violations")
            let violationList = try #require(JSONValue.parsedJSON(violations.body)?.arrayElements)
            #expect(violationList.count == 1)
            #expect(violationList.first?["kind"]?.stringValue == "violation")
            #expect(violationList.first?["rule"]?.stringValue == "RESUME of an unknown or expired session")

            let unknown = try await httpGet(port: simulator.port, path: "/control/nothing-here")
            #expect(unknown.status == 404)
            #expect(JSONValue.parsedJSON(unknown.body)?["message"]?.stringValue != nil)
        }
    }

    @Test("POST /control/traffic?rate= starts and stops synthetic traffic")
    func traffic() async throws {
        try await withSimulator { simulator in
            let client = try await TestGatewayClient.connect(port: simulator.port)
            _ = try await client.identifyAndReadGuilds()
            let start = try await httpPost(port: simulator.port, path: "/control/traffic?rate=100")
            #expect(start.status == 200)
            #expect(JSONValue.parsedJSON(start.body)?["events_per_second"]?.numberValue == 100)
            try await simulator.advanceTime(by: .seconds(1))
            let generated = try await client.payloadsBeforeHeartbeatAck()
            #expect(generated.count >= 10, "about 100 events in one simulated second, only for our intents")
            let kinds = Set(TrafficEventKind.allCases.map(\.rawValue))
            #expect(generated.allSatisfy { $0.op == 0 && kinds.contains($0.eventName ?? "") })
            #expect(generated.allSatisfy { simulator.guildIDs.map(\.description).contains($0.data?["guild_id"]?.stringValue ?? "") })

            let stop = try await httpPost(port: simulator.port, path: "/control/traffic?rate=0")
            #expect(stop.status == 200)
            #expect(JSONValue.parsedJSON(stop.body)?["events_per_second"]?.numberValue == 0)
            try await simulator.advanceTime(by: .seconds(1))
            #expect(try await client.payloadsBeforeHeartbeatAck().isEmpty)

            let bad = try await httpPost(port: simulator.port, path: "/control/traffic?rate=fast")
            #expect(bad.status == 400)
        }
    }

    @Test("POST /control/dispatch?t=NAME sends the JSON body as a dispatch's d")
    func dispatch() async throws {
        try await withSimulator { simulator in
            let client = try await TestGatewayClient.connect(port: simulator.port)
            let (_, last, _) = try await client.identifyAndReadGuilds()
            let body = "{\"hello\":\"world\",\"list\":[1,2,3],\"nested\":{\"ok\":true}}"
            let response = try await httpPost(port: simulator.port, path: "/control/dispatch?t=ECHORD_CUSTOM", body: body)
            #expect(response.status == 200)
            #expect(JSONValue.parsedJSON(response.body)?["affected"]?.integerValue == 1)
            let event = try await client.nextPayload()
            #expect(event.eventName == "ECHORD_CUSTOM")
            #expect(event.sequence == last + 1)
            #expect(event.data == JSONValue.parsedJSON(body))

            #expect(try await client.payloadsBeforeHeartbeatAck().isEmpty)

            let notJSON = try await httpPost(port: simulator.port, path: "/control/dispatch?t=ECHORD_CUSTOM", body: "{nope")
            #expect(notJSON.status == 400)
            let noName = try await httpPost(port: simulator.port, path: "/control/dispatch", body: body)
            #expect(noName.status == 400)
            #expect(try await client.payloadsBeforeHeartbeatAck().isEmpty, "rejected dispatches send nothing")
        }
    }

    @Test("POST /control/dispatch?guild= reaches only the shard that serves the guild")
    func dispatchToGuild() async throws {
        try await withSimulator({ $0.maxConcurrency = 2 }) { simulator in
            let shard0 = try await TestGatewayClient.connect(port: simulator.port)
            _ = try await shard0.identifyAndReadGuilds(shard: (0, 2))
            let shard1 = try await TestGatewayClient.connect(port: simulator.port)
            _ = try await shard1.identifyAndReadGuilds(shard: (1, 2))
            let guild = simulator.guildIDs[1]
            let (serving, other) = guild.shardIndex(shardCount: 2) == 0 ? (shard0, shard1) : (shard1, shard0)
            let response = try await httpPost(
                port: simulator.port, path: "/control/dispatch?t=ECHORD_GUILD_EVENT&guild=\(guild)",
                body: "{\"guild_id\":\"\(guild)\"}")
            #expect(response.status == 200)
            #expect(JSONValue.parsedJSON(response.body)?["affected"]?.integerValue == 1)
            let event = try await serving.nextPayload()
            #expect(event.eventName == "ECHORD_GUILD_EVENT")
            #expect(event.data?["guild_id"]?.stringValue == guild.description)
            #expect(try await other.payloadsBeforeHeartbeatAck().isEmpty)
        }
    }
}

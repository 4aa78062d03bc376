import EchordModels
import EchordSimulator
import EchordTestSupport
import Foundation
import Testing

/// Every kind of payload the simulator sends goes through `PayloadValidator`: no undocumented key,
/// no `null` in a field Discord does not mark nullable, no missing required key, the right JSON types.
@Suite("Payload fidelity: what the simulator sends is exactly what Discord documents", .timeLimit(.minutes(3 * TestTime.scale)))
struct PayloadFidelityTests {
    /// GUILDS, GUILD_MEMBERS, GUILD_VOICE_STATES, GUILD_PRESENCES, GUILD_MESSAGES,
    /// GUILD_MESSAGE_REACTIONS, GUILD_MESSAGE_TYPING, MESSAGE_CONTENT.
    static let allIntents: UInt64 = 1 | 2 | 128 | 256 | 512 | 1024 | 2048 | 32768

    /// Validates every payload the simulator logged as sent; returns the dispatch names and the
    /// opcodes seen.
    static func validateSentPayloads(
        of simulator: GatewaySimulator, sourceLocation: SourceLocation = #_sourceLocation
    ) async throws -> (events: Set<String>, opcodes: Set<Int>) {
        var events: Set<String> = []
        var opcodes: Set<Int> = []
        for entry in try await simulator.log() where entry.kind == .sent {
            guard let text = entry.text else {
                Issue.record("sent frame \(entry.index) logged without its text", sourceLocation: sourceLocation)
                continue
            }
            let issues = PayloadValidator.validate(gatewayPayload: Array(text.utf8))
            #expect(issues.isEmpty, "\(entry.eventName ?? "op \(entry.opcode ?? -1)"): \(issues.map(\.description))",
                    sourceLocation: sourceLocation)
            if let op = entry.opcode { opcodes.insert(op) }
            if let name = entry.eventName { events.insert(name) }
            if entry.opcode == 0, let name = entry.eventName, !events.contains(name + "/model") {
                events.insert(name + "/model")
                Self.checkModelEncoding(name, message: text, sourceLocation: sourceLocation)
            }
        }
        return (events.filter { !$0.hasSuffix("/model") }, opcodes)
    }

    /// Decodes the first dispatch of each kind into its model and checks that the model's `Codable`
    /// encoding follows the marks too (nullable nil fields as null, optional nil fields left out).
    static func checkModelEncoding(_ name: String, message: String, sourceLocation: SourceLocation) {
        guard let kind = GatewayEventKind(rawValue: name),
            let data = (try? JSONValue(jsonBytes: Array(message.utf8)))?["d"]
        else { return }
        do {
            let event = try GatewayEvent.decode(kind, from: try JSONEncoder().encode(data), using: JSONDecoder())
            let encoded = try JSONValue(jsonBytes: Array(try event.encodedPayload(using: JSONEncoder())))
            let issues = PayloadValidator.validate(dispatch: name, data: encoded)
            #expect(issues.isEmpty, "\(name) decoded and encoded again: \(issues.map(\.description))", sourceLocation: sourceLocation)
        } catch {
            Issue.record("\(name): \(error)", sourceLocation: sourceLocation)
        }
    }

    @Test("""
        READY, GUILD_CREATE with every channel type, member chunks, RATE_LIMITED, op 31/43/4 answers, live traffic \
        and the README's dispatch example
        """)
    func liveSession() async throws {
        try await withSimulator({
            $0.logServerPayloads = true
            $0.membersPerChunk = 4
            $0.traffic.mix = Dictionary(uniqueKeysWithValues: TrafficEventKind.allCases.map { ($0, 1.0) })
        }) { simulator in
            let client = try await TestGatewayClient.connect(port: simulator.port)
            let (_, _, payloads) = try await client.identifyAndReadGuilds(intents: Self.allIntents)
            let guildID = simulator.guildIDs[0].description
            let create = try #require(payloads[2].data)
            #expect(create["id"]?.stringValue == guildID)
            let channelTypes = Set(create["channels"]?.arrayElements?.compactMap { $0["type"]?.integerValue } ?? [])
            #expect(channelTypes == [0, 2, 4, 5, 13, 14, 15, 16])
            let threadTypes = (create["threads"]?.arrayElements?.compactMap { $0["type"]?.integerValue } ?? []).sorted()
            #expect(threadTypes == [10, 11, 11, 12])
            let text = try #require(create["channels"]?.arrayElements?.first { $0["type"]?.integerValue == 0 })
            #expect(text.objectKeys?.contains("default_auto_archive_duration") == false, "optional: absent when unset")
            #expect(text["topic"] == .null, "nullable: present as null")
            let memberIDs = create["members"]?.arrayElements?.compactMap { $0["user"]?["id"]?.stringValue } ?? []
            #expect(memberIDs.count == 11)  // the bot and the 10 members: not large, GUILD_PRESENCES
            let voiceID = try #require(create["channels"]?.arrayElements?.first { $0["type"]?.integerValue == 2 }?["id"]?.stringValue)

            // Request Guild Members by ID, with presences, an ID that is not a member and a nonce.
            let ids = (memberIDs.prefix(3) + ["1"]).map { "\"\($0)\"" }.joined(separator: ",")
            try await client.send(
                #"{"op":8,"d":{"guild_id":"\#(guildID)","user_ids":[\#(ids)],"presences":true,"nonce":"by-id","limit":0}}"#)
            let byID = try await client.nextPayload()
            #expect(byID.eventName == "GUILD_MEMBERS_CHUNK")
            #expect(byID.data?["not_found"]?.arrayElements == [.string("1")])
            #expect(byID.data?["presences"]?.arrayElements?.isEmpty == false)
            #expect(byID.data?["nonce"] == .string("by-id"))
            // All members (three chunks of 4), then again at once: RATE_LIMITED.
            let all = #"{"op":8,"d":{"guild_id":"\#(guildID)","query":"","limit":0,"nonce":"all"}}"#
            try await client.send(all)
            for index in 0..<3 {
                let chunk = try await client.nextPayload()
                #expect(chunk.eventName == "GUILD_MEMBERS_CHUNK" && chunk.data?["chunk_index"]?.integerValue == index)
            }
            try await client.send(all)
            #expect(try await client.nextPayload().eventName == "RATE_LIMITED")

            try await client.send(#"{"op":31,"d":{"guild_ids":["\#(guildID)"]}}"#)
            #expect(try await client.nextPayload().eventName == "SOUNDBOARD_SOUNDS")
            try await client.send(#"{"op":43,"d":{"guild_id":"\#(guildID)","fields":["status","voice_start_time"]}}"#)
            #expect(try await client.nextPayload().eventName == "CHANNEL_INFO")
            try await client.send(#"{"op":4,"d":{"guild_id":"\#(guildID)","channel_id":"\#(voiceID)","self_mute":false,"self_deaf":false}}"#)
            #expect(try await client.nextPayload().eventName == "VOICE_STATE_UPDATE")
            #expect(try await client.nextPayload().eventName == "VOICE_SERVER_UPDATE")
            try await client.send(#"{"op":4,"d":{"guild_id":"\#(guildID)","channel_id":null,"self_mute":false,"self_deaf":false}}"#)
            #expect(try await client.nextPayload().eventName == "VOICE_STATE_UPDATE")

            // Every /control/dispatch example of README.md, with ID replaced by the guild's.
            let examples = try Self.readmeDispatchExamples()
            #expect(!examples.isEmpty)
            for example in examples {
                let query = example.query.replacingOccurrences(of: "ID", with: guildID)
                let response = try await httpPost(
                    port: simulator.port, path: "/control/dispatch?" + query,
                    body: example.body.replacingOccurrences(of: "ID", with: guildID))
                #expect(response.status == 200, "\(example.query): \(response.body)")
                #expect(try await client.nextPayload().eventName == example.eventName)
            }

            // Live traffic of the whole mix.
            try await simulator.setTraffic(eventsPerSecond: 2000)
            try await simulator.advanceTime(by: .milliseconds(200))
            try await simulator.setTraffic(eventsPerSecond: 0)
            _ = try await client.payloadsBeforeHeartbeatAck()

            let seen = try await Self.validateSentPayloads(of: simulator)
            let expected: Set<String> = [
                "READY", "GUILD_CREATE", "GUILD_MEMBERS_CHUNK", "RATE_LIMITED", "SOUNDBOARD_SOUNDS", "CHANNEL_INFO",
                "VOICE_STATE_UPDATE", "VOICE_SERVER_UPDATE",
            ]
            #expect(seen.events.isSuperset(of: expected.union(examples.map(\.eventName))))
            #expect(seen.events.isSuperset(of: TrafficEventKind.allCases.map(\.rawValue)), "\(seen.events)")
            #expect(seen.opcodes.isSuperset(of: [0, 10, 11]))
        }
    }

    @Test("the traffic generator's whole mix, as SimulatorTrafficSample builds it")
    func trafficMix() throws {
        var configuration = SimulatorConfiguration()
        configuration.traffic.mix = Dictionary(uniqueKeysWithValues: TrafficEventKind.allCases.map { ($0, 1.0) })
        let (messages, _) = SimulatorTrafficSample.make(count: 400, compression: .none, configuration: configuration)
        #expect(messages.count == 400)
        var kinds: Set<String> = []
        for message in messages {
            let issues = PayloadValidator.validate(gatewayPayload: message)
            #expect(issues.isEmpty, "\(String(decoding: message.prefix(60), as: UTF8.self)): \(issues.map(\.description))")
            if let name = (try? JSONValue(jsonBytes: message))?["t"]?.stringValue { kinds.insert(name) }
        }
        #expect(kinds == Set(TrafficEventKind.allCases.map(\.rawValue)))
    }

    @Test("the basic and full scenarios", arguments: SimulatorScenario.allCases)
    func scenario(_ scenario: SimulatorScenario) async throws {
        try await withSimulator({
            $0.logServerPayloads = true
            $0.scenario = scenario
            $0.world.guildCount = SimulatorScenario.guildCount
        }) { simulator in
            let client = try await TestGatewayClient.connect(port: simulator.port)
            let (sessionID, afterGuilds, _) = try await client.identifyAndReadGuilds(intents: Self.allIntents)
            try await simulator.advanceTime(by: .milliseconds(2500))
            #expect(try await client.nextPayload().op == 1)
            let mark = (try await simulator.log().last?.index ?? -1) + 1
            try await client.heartbeat(afterGuilds)
            // The answer schedules the next message at the simulator's now: only once the simulator
            // has read it does the 1 ms step reach that message (the send completes on write).
            try await simulator.waitForLogEntry(timeout: TestTime.bound(.seconds(30)), since: mark) { $0.kind == .received && $0.opcode == 1 }
            try await simulator.advanceTime(by: .milliseconds(1))
            let before = try await client.nextPayload()
            #expect(before.data?["content"] == .string("before-reconnect"))
            try await simulator.advanceTime(by: .milliseconds(1000))
            #expect(try await client.nextPayload().op == 7)
            await client.drop()
            try await simulator.waitUntilDetached(sessionID)

            let resumed = try await TestGatewayClient.connect(port: simulator.port, path: "/resume")
            try await resumed.helloThenResume(sessionID: sessionID, sequence: before.sequence ?? 0)
            #expect(try await resumed.nextPayload().data?["content"] == .string("missed-during-reconnect"))
            #expect(try await resumed.nextPayload().eventName == "RESUMED")
            try await simulator.advanceTime(by: .milliseconds(500))
            #expect(try await resumed.nextPayload().data?["content"] == .string("after-resume"))

            if scenario == .full {
                try await simulator.advanceTime(by: .milliseconds(1000))
                let invalid = try await resumed.nextPayload()
                #expect(invalid.op == 9 && invalid.data == .bool(false))
                await resumed.drop()
                try await simulator.advanceTime(by: .milliseconds(5000))  // past the IDENTIFY bucket
                let fresh = try await TestGatewayClient.connect(port: simulator.port)
                let (newSessionID, last, _) = try await fresh.identifyAndReadGuilds(intents: Self.allIntents)
                let reidentified = try await fresh.nextPayload()
                #expect(reidentified.data?["content"] == .string("after-reidentify"))
                try await simulator.advanceTime(by: .milliseconds(1000))
                #expect(try await fresh.nextClose() == 4000)
                let again = try await TestGatewayClient.connect(port: simulator.port, path: "/resume")
                try await again.helloThenResume(sessionID: newSessionID, sequence: reidentified.sequence ?? last)
                #expect(try await again.nextPayload().eventName == "RESUMED")
                #expect(try await again.nextPayload().data?["content"] == .string("after-close-4000-resume"))
            }

            let seen = try await Self.validateSentPayloads(of: simulator)
            #expect(seen.events.isSuperset(of: ["READY", "GUILD_CREATE", "MESSAGE_CREATE", "RESUMED"]))
            #expect(seen.opcodes.isSuperset(of: scenario == .full ? [0, 1, 7, 9, 10, 11] : [0, 1, 7, 10, 11]))
        }
    }

    /// A `curl -X POST '.../control/dispatch?QUERY' -d 'BODY'` line of README.md.
    struct DispatchExample {
        let query: String
        let body: String
        var eventName: String {
            query.split(separator: "&").first { $0.hasPrefix("t=") }.map { String($0.dropFirst(2)) } ?? ""
        }
    }

    /// The `/control/dispatch` examples of the package's README.md.
    static func readmeDispatchExamples() throws -> [DispatchExample] {
        // <root>/Tests/EchordSimulatorTests/PayloadFidelityTests.swift -> <root>/README.md
        let readme = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("README.md")
        let text = try String(contentsOf: readme, encoding: .utf8)
        return text.split(separator: "\n").compactMap { line -> DispatchExample? in
            guard let start = line.range(of: "/control/dispatch?") else { return nil }
            let rest = line[start.upperBound...]
            guard let queryEnd = rest.firstIndex(of: "'") else { return nil }
            let query = String(rest[..<queryEnd])
            var body = ""
            if let dashD = rest.range(of: "-d '") {
                let bodyText = rest[dashD.upperBound...]
                body = String(bodyText[..<(bodyText.firstIndex(of: "'") ?? bodyText.endIndex)])
            }
            return DispatchExample(query: query, body: body)
        }
    }
}

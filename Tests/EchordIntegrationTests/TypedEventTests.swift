import EchordGateway
import EchordModels
import EchordSimulator
import EchordTestSupport
import Foundation
import Testing

/// Typed events from the simulator: every dispatch decodes, subscriptions filter before decoding,
/// and bad or unknown payloads reach the user without costing the connection.
@Suite("Typed events against the simulator", .timeLimit(.minutes(3 * TestTime.scale)))
struct TypedEventTests {
    static let everyTrafficIntent: GatewayIntents = [
        .guilds, .guildMembers, .guildPresences, .guildMessages, .guildMessageReactions, .guildMessageTyping,
        .messageContent,
    ]

    @Test("READY, GUILD_CREATE and the simulator's traffic mix arrive typed, the same as JSONDecoder decodes them")
    func trafficDecodes() async throws {
        try await Harness.with(
            compression: .zlibStream,
            simulator: { $0.traffic.eventsPerSecond = 400; $0.world.membersPerGuild = 20 },
            shard: { $0.intents = Self.everyTrafficIntent }
        ) { harness, _ in
            let events = EventCollector(harness.shard)
            try await harness.waitForStatus { $0 == .ready }
            _ = try await harness.advance(by: .milliseconds(250), alsoSimulator: true) { events.dispatches.count >= 400 }
            let dispatches = events.dispatches
            var kinds = Set<GatewayEventKind>()
            for dispatch in dispatches {
                let event = dispatch.event
                let kind = try #require(event.kind, "\(dispatch.name) did not decode: \(event)")
                kinds.insert(kind)
                let reference = try GatewayEvent.decode(kind, from: Data(dispatch.data), using: JSONDecoder())
                #expect(event == reference, "\(dispatch.name) differs from JSONDecoder")
            }
            #expect(kinds.isSuperset(of: [.ready, .guildCreate, .messageCreate, .typingStart, .presenceUpdate]))
            guard case .ready(let ready) = dispatches[0].event else {
                Issue.record("the first dispatch is not READY")
                return
            }
            #expect(ready.sessionID == harness.shard.session?.sessionID)
            #expect(ready.guilds.count == 2)
            guard case .guildCreate(.available(let guild)) = dispatches[1].event else {
                Issue.record("the second dispatch is not an available GUILD_CREATE")
                return
            }
            #expect(ready.guilds.contains { $0.id == guild.id })
            #expect(!guild.channels.isEmpty)
            #expect(guild.memberCount == 21, "20 members and the bot")
            #expect(guild.members.count == guild.memberCount)
        }
    }

    @Test("a subscription delivers only its kinds; the others still advance the sequence")
    func subscriptionFilters() async throws {
        try await Harness.with(
            simulator: { $0.traffic.eventsPerSecond = 400 },
            shard: {
                $0.intents = Self.everyTrafficIntent
                $0.eventSubscription = GatewayEventSubscription([.messageCreate], includesUnknown: false)
            }
        ) { harness, _ in
            let events = EventCollector(harness.shard)
            try await harness.waitForStatus { $0 == .ready }
            try await harness.simulator.dispatch(eventName: "SOMETHING_NEW", data: .object([("n", .int(1))]))
            _ = try await harness.advance(by: .milliseconds(250), alsoSimulator: true) { events.count(of: "MESSAGE_CREATE") >= 100 }
            let names = Set(events.names)
            #expect(names == ["READY", "MESSAGE_CREATE"])
            let sequences = events.dispatches.compactMap(\.sequence)
            #expect(sequences == sequences.sorted() && Set(sequences).count == sequences.count)
            // GUILD_CREATEs, typing, presences... were received but not delivered.
            #expect(sequences.count < sequences.last!)
            // The session's sequence is the main loop's, updated just after the reader delivered.
            let last = sequences.last!
            try? await harness.eventually { (harness.shard.session?.sequence ?? 0) >= last }
            #expect((harness.shard.session?.sequence ?? 0) >= last)
        }
    }

    @Test("a payload that does not decode arrives as a failure with its bytes, an unknown one raw; the connection goes on")
    func failuresAndUnknown() async throws {
        try await Harness.with { harness, _ in
            let events = EventCollector(harness.shard)
            try await harness.waitForStatus { $0 == .ready }
            let bad = #"{"id":"not-a-number","channel_id":"1"}"#
            try await harness.simulator.dispatch(eventName: "MESSAGE_CREATE", data: .raw(Array(bad.utf8)))
            try await harness.simulator.dispatch(eventName: "BRAND_NEW_EVENT", data: .raw(Array(#"{"x":[1,2]}"#.utf8)))
            try await harness.simulator.dispatch(eventName: "MESSAGE_DELETE", data: .raw(Array(#"{"id":"5","channel_id":"6"}"#.utf8)))
            try await harness.eventually { events.count(of: "MESSAGE_DELETE") == 1 }
            let tail = events.dispatches.suffix(3).map(\.event)
            guard case .failed(let failure) = tail[tail.startIndex] else {
                Issue.record("MESSAGE_CREATE with a bad id should fail, got \(tail[tail.startIndex])")
                return
            }
            #expect(failure.name == "MESSAGE_CREATE")
            #expect(failure.data == Array(bad.utf8))
            #expect((failure.error as? JSONDecodingError)?.reason == .invalidValue("a snowflake"))
            #expect(tail[tail.startIndex + 1] == .unknown(name: "BRAND_NEW_EVENT", data: Array(#"{"x":[1,2]}"#.utf8)))
            #expect(tail[tail.startIndex + 2] == .messageDelete(MessageDelete(id: 5, channelID: 6)))
            #expect(harness.shard.status == .ready)
            #expect(try await harness.simulator.serverCloseCodes().isEmpty)
        }
    }
}

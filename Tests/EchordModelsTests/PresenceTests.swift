import Foundation
import Testing

import EchordModels

@Suite("Presence")
struct PresenceTests {
    @Test("Update Presence doc example decodes and re-encodes", .enabled(if: Fixtures.isAvailable, Fixtures.skipReason))
    func updatePresence() throws {
        let payload = try Fixtures.payload(PresenceUpdate.self, "update_presence.json")
        #expect(payload.opcode == .presenceUpdate)
        let update = try #require(payload.data)
        #expect(update == PresenceUpdate(
            since: 91_879_201, activities: [Activity(name: "Save the Oxford Comma", type: .playing)],
            status: .online, afk: false))
        #expect(try JSONTesting.encodeToJSON(payload) == Fixtures.json("update_presence.json"))
    }

    @Test("since is encoded as null when nil")
    func sinceNull() throws {
        let update = PresenceUpdate(since: nil, activities: [], status: .idle, afk: true)
        let object = try JSONTesting.encodeToObject(update)
        #expect(Set(object.keys) == ["since", "activities", "status", "afk"])
        #expect(object["since"] is NSNull)
        #expect(object["status"] as? String == "idle")
        #expect(try JSONTesting.roundTrip(update) == update)
    }

    @Test("activities: received fields typed, a bot's activity encodes only what it sets", .enabled(if: Fixtures.isAvailable, Fixtures.skipReason))
    func activities() throws {
        let streaming = try Fixtures.decode(Activity.self, "activity_streaming_example.json")
        #expect(streaming == Activity(name: "Twitch", type: .streaming, url: "https://www.twitch.tv/discord",
                                      details: "24H RL Stream for Charity", state: "Rocket League"))
        let rich = try Fixtures.decode(Activity.self, "activity_rich_presence_example.json")
        #expect(rich.type == .playing)
        #expect(rich.state == "In a Match")
        #expect(rich.url == nil)
        #expect(rich.party?.size == [2, 2])
        #expect(rich.assets?.largeImage != nil)
        #expect(try Activity(jsonBytes: Fixtures.data("activity_rich_presence_example.json")) == rich)
        let custom = Activity(name: "Custom Status", type: .custom, state: "Fixing bugs")
        #expect(try JSONTesting.encodeToJSON(custom)
            == .object(["name": .string("Custom Status"), "type": .number(4), "state": .string("Fixing bugs")]))
    }

    @Test("raw-value types keep unknown values")
    func unknownValues() throws {
        let status = try JSONTesting.decode(PresenceStatus.self, "\"streaming-ish\"")
        #expect(status.rawValue == "streaming-ish")
        #expect(status != .online)
        let type = try JSONTesting.decode(ActivityType.self, "9")
        #expect(type.rawValue == 9)
        #expect([ActivityType.playing, .streaming, .listening, .watching, .custom, .competing].map(\.rawValue)
            == [0, 1, 2, 3, 4, 5])
        #expect([PresenceStatus.online, .dnd, .idle, .invisible, .offline].map(\.rawValue)
            == ["online", "dnd", "idle", "invisible", "offline"])
    }

    @Test("real PRESENCE_UPDATE captures", .enabled(if: Fixtures.isAvailable, Fixtures.skipReason))
    func presenceUpdateCaptures() throws {
        let payload = try Fixtures.payload(Presence.self, "\(Fixtures.remora)/presence_update_2021-07-18.json")
        #expect(payload.eventName == "PRESENCE_UPDATE")
        let presence = try #require(payload.data)
        #expect(presence.user.id == 999_999_999_999_999_999)
        #expect(presence.guildID == 999_999_999_999_999_999)
        #expect(presence.status == .dnd)
        #expect(presence.clientStatus == ClientStatus(desktop: .dnd))
        #expect(presence.activities.count == 2)
        #expect(presence.activities.last?.details == "none")
        #expect(try JSONTesting.roundTrip(presence) == presence)

        let other = try Fixtures.payload(Presence.self, "\(Fixtures.remora)/presence_update_2021-07-03.json")
        #expect(other.data?.status == .online)
        #expect(other.data?.activities.first?.flags == [.sync, .play])
    }

    @Test("lenient presence: missing activities decode as empty")
    func lenientPresence() throws {
        let presence = try JSONTesting.decode(Presence.self, #"{"user":{"id":1},"status":"offline"}"#)
        #expect(presence.activities.isEmpty)
        #expect(presence.status == .offline)
        #expect(presence.guildID == nil)
    }
}

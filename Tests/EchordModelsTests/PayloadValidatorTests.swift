import Foundation
import Testing

import EchordModels

@Suite("PayloadValidator")
struct PayloadValidatorTests {
    /// Parses JSON text with the library's reader.
    private func json(_ text: String) throws -> JSONValue { try JSONValue(jsonBytes: Array(text.utf8)) }

    private func descriptions(_ issues: [PayloadIssue]) -> [String] { issues.map(\.description) }

    @Test("an optional field sent as null is reported with its path")
    func optionalNull() throws {
        let channel = try json(#"{"id":"41771983423143937","type":0,"default_auto_archive_duration":null,"name":null}"#)
        #expect(descriptions(Channel.validate(channel)) == ["default_auto_archive_duration: null where not nullable"])
        let guild = try json(#"{"op":0,"s":1,"t":"CHANNEL_CREATE","d":{"id":"1","type":0,"topic":null,"nsfw":null}}"#)
        #expect(descriptions(PayloadValidator.validate(gatewayPayload: guild)) == ["d.nsfw: null where not nullable"])
    }

    @Test("a key the docs do not list is reported, also when the model decodes it")
    func undocumentedKey() throws {
        let channel = try json(#"{"id":"1","type":2,"version":3,"status":"x","hub_type":null}"#)
        #expect(descriptions(Channel.validate(channel)) == [
            "hub_type: key not in Discord's docs", "status: key not in Discord's docs", "version: key not in Discord's docs",
        ])
        let hello = try json(#"{"op":10,"s":null,"t":null,"d":{"heartbeat_interval":41250,"_trace":["x"]}}"#)
        #expect(descriptions(PayloadValidator.validate(gatewayPayload: hello)) == ["d._trace: key not in Discord's docs"])
    }

    @Test("wrong JSON types are reported, through nested objects and array elements")
    func wrongTypes() throws {
        let member = try json(#"""
            {"guild_id":"1","members":[{"user":{"id":2,"username":"a","discriminator":"0","global_name":null,"avatar":null},
            "roles":["3",4],"joined_at":null,"deaf":"no","mute":false,"flags":0}],"chunk_index":0.5,"chunk_count":1}
            """#)
        #expect(descriptions(PayloadValidator.validate(dispatch: "GUILD_MEMBERS_CHUNK", data: member)) == [
            "d.chunk_index: number where integer is documented",
            "d.members[0].deaf: string where boolean is documented",
            "d.members[0].roles[1]: integer where snowflake (a decimal string) is documented",
            "d.members[0].user.id: integer where snowflake (a decimal string) is documented",
        ])
        let role = try json(#"""
            {"guild_id":"1","role":{"id":"2","name":"r","color":0,"hoist":false,"position":0,"permissions":8,"managed":false,
            "mentionable":false,"flags":0,"colors":{"primary_color":0,"secondary_color":null,"tertiary_color":null}}}
            """#)
        #expect(descriptions(PayloadValidator.validate(dispatch: "GUILD_ROLE_CREATE", data: role))
            == ["d.role.permissions: integer where decimal string is documented"])
        let pins = try json(#"{"channel_id":"1","last_pin_timestamp":"yesterday"}"#)
        #expect(descriptions(PayloadValidator.validate(dispatch: "CHANNEL_PINS_UPDATE", data: pins))
            == ["d.last_pin_timestamp: string where ISO 8601 timestamp is documented"])
    }

    @Test("a required key left out is reported, except in a partial object")
    func missingKey() throws {
        let user = try json(#"{"id":"1","username":"a"}"#)
        #expect(descriptions(User.validate(user)) == ["avatar: required key missing", "discriminator: required key missing",
                                                      "global_name: required key missing"])
        #expect(User.validate(user, partial: true).isEmpty)
        // MESSAGE_CREATE's member is partial: no user, deaf or mute.
        let reaction = try json(#"{"user_id":"1","channel_id":"2","message_id":"3","emoji":{"name":"🔥"},"burst":false,"type":0}"#)
        #expect(PayloadValidator.validate(dispatch: "MESSAGE_REACTION_REMOVE", data: reaction).isEmpty)
    }

    @Test("envelopes: unknown events and opcodes, s and t on non-dispatches, invalid JSON")
    func envelopes() throws {
        #expect(descriptions(PayloadValidator.validate(gatewayPayload: try json(#"{"op":0,"s":1,"t":"NOT_AN_EVENT","d":{}}"#)))
            == ["t: undocumented event NOT_AN_EVENT"])
        #expect(descriptions(PayloadValidator.validate(gatewayPayload: try json(#"{"op":99,"s":null,"t":null,"d":null}"#)))
            == ["op: undocumented opcode 99"])
        #expect(descriptions(PayloadValidator.validate(gatewayPayload: try json(#"{"op":11,"s":3,"d":null}"#)))
            == ["s: integer where null (op 11) is documented"])
        #expect(descriptions(PayloadValidator.validate(gatewayPayload: try json(#"{"op":0,"t":"RESUMED","d":{}}"#)))
            == ["s: required key missing"])
        #expect(descriptions(PayloadValidator.validate(gatewayPayload: Array("{\"op\":".utf8))) == ["invalid JSON: not a JSON value"])
        #expect(PayloadValidator.validate(gatewayPayload: try json(#"{"op":9,"s":null,"t":null,"d":false}"#)).isEmpty)
        let outage = try json(#"{"op":0,"s":2,"t":"GUILD_CREATE","d":{"id":"1","unavailable":true}}"#)
        #expect(PayloadValidator.validate(gatewayPayload: outage).isEmpty)
    }

    @Test("encoding follows the marks: a nil nullable field is written as null, a nil optional one is left out")
    func encodingFollowsMarks() throws {
        let user = User(id: 80_351_110_224_678_912, username: "nelly", discriminator: "0")
        let object = try JSONValue(jsonBytes: Array(try JSONEncoder().encode(user)))
        #expect(object["global_name"] == .null)  // `global_name ?string`: required, nullable
        #expect(object["avatar"] == .null)
        #expect(object["banner"] == nil)  // `banner? ?string`: may be absent
        #expect(object["bot"] == nil)  // `bot? boolean`
        #expect(User.validate(object).isEmpty)
        let decoded = try JSONDecoder().decode(User.self, from: JSONEncoder().encode(object))
        #expect(decoded == user)
    }

    /// Fixtures from Discord's docs that break the docs' own marks, with the reason.
    static let docsExamplesBreakingTheirMarks: [String: String] = [
        "activity_rich_presence_example.json": "no created_at (required in the activity table)",
        "activity_streaming_example.json": "no created_at (required in the activity table)",
        "dispatch_envelope_example.json": "t is the placeholder GATEWAY_EVENT_NAME",
        "objects/auto_moderation_rule.json": "trigger and action metadata carry only their type's keys; the tables mark all of them required",
        "objects/ban.json": "its user predates global_name (required, nullable)",
        "objects/channel_dm.json": "its recipients predate global_name",
        "objects/channel_group_dm.json": "its recipients predate global_name",
        "objects/emoji.json": "its user predates global_name",
        "objects/entitlement.json": "carries gift_code_flags, promotion_id and subscription_id, which the entitlement table does not list",
        "objects/guild.json": "predates incidents_data, nsfw_level and premium_progress_bar_enabled (required)",
        "objects/guild_member.json": "elides its user as {} and has no flags (required)",
        "objects/invite.json": "no expires_at (required, nullable); its users predate global_name",
        "objects/message.json": "its author predates global_name",
        "objects/message_crossposted.json": "its author predates global_name",
        "objects/voice_state.json": "no self_video (required)",
    ]

    @Test("the examples in Discord's docs pass (the validator agrees with the docs)", .enabled(if: Fixtures.isAvailable, Fixtures.skipReason))
    func docsExamples() throws {
        guard let directory = Fixtures.directory else { return }
        let topLevel = try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.hasSuffix(".json") }
        let objects = try FileManager.default.contentsOfDirectory(atPath: directory.appendingPathComponent("objects").path)
            .filter { $0.hasSuffix(".json") }.map { "objects/" + $0 }
        var checked = 0
        for path in (topLevel + objects).sorted() where !FixtureCatalog.notPayloads.keys.contains(path) {
            let value = try JSONValue(jsonBytes: Array(try Fixtures.data(path)))
            let issues: [PayloadIssue]
            if let validate = Self.objectValidators[path] {
                issues = validate(value)
            } else if value["op"] != nil {
                issues = PayloadValidator.validate(gatewayPayload: value)
            } else {
                Issue.record("\(path): no type known for this fixture")
                continue
            }
            checked += 1
            if let reason = Self.docsExamplesBreakingTheirMarks[path] {
                #expect(!issues.isEmpty, "\(path) is listed as breaking the docs' marks (\(reason)) but passes")
            } else {
                #expect(issues.isEmpty, "\(path): \(descriptions(issues))")
            }
        }
        #expect(checked == 44)
    }

    /// The `d`-only and object fixtures, with their type (as FixtureCatalog.objects lists them).
    static let objectValidators: [String: @Sendable (JSONValue) -> [PayloadIssue]] = [
        "activity_rich_presence_example.json": { Activity.validate($0) },
        "activity_streaming_example.json": { Activity.validate($0) },
        "voice_server_update_d.json": { VoiceServerUpdate.validate($0) },
        "objects/application.json": { Application.validate($0) },
        "objects/auto_moderation_rule.json": { AutoModerationRule.validate($0) },
        "objects/ban.json": { Ban.validate($0) },
        "objects/channel_category.json": { Channel.validate($0) },
        "objects/channel_dm.json": { Channel.validate($0) },
        "objects/channel_group_dm.json": { Channel.validate($0) },
        "objects/channel_guild_announcement.json": { Channel.validate($0) },
        "objects/channel_guild_text.json": { Channel.validate($0) },
        "objects/channel_thread.json": { Channel.validate($0) },
        "objects/emoji.json": { Emoji.validate($0) },
        "objects/emoji_standard_partial.json": { Emoji.validate($0, partial: true) },
        "objects/entitlement.json": { Entitlement.validate($0) },
        "objects/guild.json": { Guild.validate($0) },
        "objects/guild_member.json": { GuildMember.validate($0) },
        "objects/invite.json": { Invite.validate($0) },
        "objects/message.json": { Message.validate($0) },
        "objects/message_crossposted.json": { Message.validate($0) },
        "objects/soundboard_sound_default.json": { SoundboardSound.validate($0) },
        "objects/soundboard_sound_guild.json": { SoundboardSound.validate($0) },
        "objects/stage_instance.json": { StageInstance.validate($0) },
        "objects/sticker.json": { Sticker.validate($0) },
        "objects/subscription.json": { Subscription.validate($0) },
        "objects/unavailable_guild.json": { UnavailableGuild.validate($0) },
        "objects/user.json": { User.validate($0) },
        "objects/voice_state.json": { VoiceState.validate($0) },
    ]
}

import Foundation
import Testing

import EchordModels

/// What the fixture tests know about each file under `shared/fixtures`.
enum FixtureCatalog {
    /// Dispatch fixtures that are not valid current payloads, with the fast reader's error.
    static let invalidDispatches: [String: String] = [
        // Remora's "optionals" sample leaves out even required fields: its voice state is `{}`.
        "real/Remora.Discord__synthetic-samples_2574696/Events/GUILD_CREATE/GUILD_CREATE.optionals.json":
            #"missing field "user_id" of VoiceState at byte 1502"#,
        // A v6 READY (kord's test resource): no `application`, no `resume_gateway_url`.
        "real/kord__gateway-commonTest-resources/ready.json": #"missing field "application" of Ready at byte 0"#,
    ]

    /// Object fixtures that are not valid current payloads, with the fast reader's error.
    static let invalidObjects: [String: String] = [
        // The docs' guild member example elides its user as `{}`.
        "objects/guild_member.json": #"missing field "id" of User at byte 12"#,
        // A 2017 v6 READY (serenity's test resource): no `resume_gateway_url`, no `application`.
        "real/serenity__tests-resources/ready_1.json": #"missing field "resume_gateway_url" of Ready at byte 0"#,
    ]

    /// JSON files that are not gateway payloads, and why.
    static let notPayloads: [String: String] = [
        "get_gateway_response.json": "REST answer of GET /gateway, decoded by GatewayDiscovery (EchordGateway tests)",
        "get_gateway_bot_response.json": "REST answer of GET /gateway/bot, decoded by GatewayDiscovery (EchordGateway tests)",
    ]

    /// `d`-only and resource-object fixtures, each with its type.
    static let objects: [String: @Sendable ([UInt8]) throws -> (AnyHashable, AnyHashable)] = [
        "activity_rich_presence_example.json": both(Activity.self),
        "activity_streaming_example.json": both(Activity.self),
        "voice_server_update_d.json": both(VoiceServerUpdate.self),
        "objects/application.json": both(Application.self),
        "objects/auto_moderation_rule.json": both(AutoModerationRule.self),
        "objects/ban.json": both(Ban.self),
        "objects/channel_category.json": both(Channel.self),
        "objects/channel_dm.json": both(Channel.self),
        "objects/channel_group_dm.json": both(Channel.self),
        "objects/channel_guild_announcement.json": both(Channel.self),
        "objects/channel_guild_text.json": both(Channel.self),
        "objects/channel_thread.json": both(Channel.self),
        "objects/emoji.json": both(Emoji.self),
        "objects/emoji_standard_partial.json": both(Emoji.self),
        "objects/entitlement.json": both(Entitlement.self),
        "objects/guild.json": both(Guild.self),
        "objects/guild_member.json": both(GuildMember.self),
        "objects/invite.json": both(Invite.self),
        "objects/message.json": both(Message.self),
        "objects/message_crossposted.json": both(Message.self),
        "objects/soundboard_sound_default.json": both(SoundboardSound.self),
        "objects/soundboard_sound_guild.json": both(SoundboardSound.self),
        "objects/stage_instance.json": both(StageInstance.self),
        "objects/sticker.json": both(Sticker.self),
        "objects/subscription.json": both(Subscription.self),
        "objects/unavailable_guild.json": both(UnavailableGuild.self),
        "objects/user.json": both(User.self),
        "objects/voice_state.json": both(VoiceState.self),
        "real/serenity__tests-resources/message_create_1.json": both(Message.self),
        "real/serenity__tests-resources/ready_1.json": both(Ready.self),
    ]

    /// Decodes `bytes` as `T` with the fast reader and with `JSONDecoder`.
    static func both<T: JSONReadable & Decodable & Hashable & Sendable>(
        _ type: T.Type
    ) -> @Sendable ([UInt8]) throws -> (AnyHashable, AnyHashable) {
        { bytes in (AnyHashable(try T(jsonBytes: bytes)), AnyHashable(try JSONDecoder().decode(T.self, from: Data(bytes)))) }
    }

    /// Every `.json` file, as a path relative to the fixtures folder, sorted.
    static func jsonFiles() throws -> [String] {
        guard let directory = Fixtures.directory else { throw Fixtures.FixtureError.missingDirectory }
        let root = directory.standardizedFileURL.path
        let enumerator = FileManager.default.enumerator(atPath: root)
        var paths: [String] = []
        while let path = enumerator?.nextObject() as? String {
            if path.hasSuffix(".json") { paths.append(path) }
        }
        return paths.sorted()
    }

    /// A gateway frame's opcode, event name and the raw bytes of `d`.
    struct Envelope {
        var opcode: Int
        var name: String?
        var data: [UInt8]
    }

    /// The envelope of a fixture, or nil when the file is not an `{op, d, ...}` frame.
    static func envelope(_ path: String) throws -> Envelope? {
        let bytes = try [UInt8](Fixtures.data(path))
        return try bytes.withUnsafeBytes { buffer -> Envelope? in
            try JSONReader.withReader(buffer) { reader -> Envelope? in
                guard try reader.peek() == UInt8(ascii: "{") else {
                    try reader.skipValue()
                    return nil
                }
                var opcode: Int?
                var name: String?
                var data: [UInt8] = []
                var cursor = try reader.beginObject()
                while let key = try reader.nextKey(&cursor) {
                    switch key {
                    case JSONReader.keyHash("op"): opcode = try reader.readInt()
                    case JSONReader.keyHash("t"): name = try reader.readNull() ? nil : reader.readString()
                    case JSONReader.keyHash("d"): data = try reader.readRawValue()
                    default: try reader.skipValue()
                    }
                }
                return opcode.map { Envelope(opcode: $0, name: name, data: data) }
            }
        }
    }

    /// The payload of `event` encoded by `JSONEncoder`.
    static func encodePayload(of event: GatewayEvent) throws -> [UInt8] {
        [UInt8](try event.encodedPayload(using: JSONEncoder()))
    }
}

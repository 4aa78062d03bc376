import Foundation
import Testing

import EchordModels

@Suite("Message", .enabled(if: Fixtures.isAvailable, Fixtures.skipReason))
struct MessageTests {
    @Test("message object doc example")
    func docExample() throws {
        let message = try Fixtures.decode(Message.self, "objects/message.json")
        #expect(message.id == 334_385_199_974_967_042)
        #expect(message.channelID == 290_926_798_999_357_250)
        #expect(message.author.username == "Mason")
        #expect(message.author.id == 53_908_099_506_183_680)
        #expect(message.content == "Supa Hot")
        #expect(message.timestamp == "2017-07-11T17:27:07.299000+00:00")
        #expect(message.editedTimestamp == nil)
        #expect(message.tts == false)
        #expect(message.mentionEveryone == false)
        #expect(message.mentions.isEmpty)
        #expect(message.mentionRoles.isEmpty)
        #expect(message.pinned == false)
        #expect(message.type == 0)
        #expect(message.reactions?.count == 1)
        #expect(message.reactions?.first?["emoji"]?["name"] == .string("🔥"))
        #expect(message.guildID == nil)
        #expect(message.member == nil)
        #expect(message.referencedMessage == nil)
        #expect(try JSONTesting.roundTrip(message) == message)
    }

    @Test("crossposted message keeps its reference")
    func crossposted() throws {
        let message = try Fixtures.decode(Message.self, "objects/message_crossposted.json")
        #expect(message.flags == 2)
        #expect(message.messageReference?["message_id"] == .string("306588351130107906"))
        #expect(message.mentionChannels?.first?["name"] == .string("big-news"))
    }

    @Test("Remora MESSAGE_CREATE captures")
    func remoraCaptures() throws {
        let payload = try Fixtures.payload(MessageCreate.self, "\(Fixtures.remora)/message_create_2020-08-07_a.json")
        #expect(payload.opcode == .dispatch)
        #expect(payload.eventName == "MESSAGE_CREATE")
        #expect(payload.sequence == 3)
        let message = try #require(payload.data)
        #expect(message.guildID == 999_999_999_999_999_999)
        #expect(message.nonce == .string("999999999999999999"))
        #expect(message.flags == 0)
        #expect(message.mentions.count == 1)
        #expect(message.mentions.first?.username == "none")
        #expect(message.member?.roles.count == 2)
        #expect(message.member?.joinedAt == "1970-01-01T00:00:00.000000+00:00")
        #expect(message.author.publicFlags == 0)
        #expect(try JSONTesting.roundTrip(message) == message)

        let second = try Fixtures.payload(MessageCreate.self, "\(Fixtures.remora)/message_create_2020-08-07_b.json")
        #expect(second.sequence == 7)
        #expect(second.data?.mentions.isEmpty == true)
    }

    @Test("serenity 2017 MESSAGE_CREATE body")
    func serenity() throws {
        let message = try Fixtures.decode(Message.self, "real/serenity__tests-resources/message_create_1.json")
        #expect(message.content == "a")
        #expect(message.author.username == "zeyla")
        #expect(message.nonce == .string("302917639192182784"))
    }

    @Test("synthetic MESSAGE_CREATE samples with nulls and optionals")
    func synthetic() throws {
        let folder = "real/Remora.Discord__synthetic-samples_2574696/Events/MESSAGE_CREATE"
        let nulls = try #require(try Fixtures.payload(Message.self, "\(folder)/MESSAGE_CREATE.nulls.json").data)
        #expect(nulls.webhookID == 999_999_999_999_999_999)
        #expect(nulls.referencedMessage == nil)
        #expect(nulls.attachments.first?.filename == "file.png")
        #expect(nulls.attachments.first?.proxyURL == "https://www.example.org")
        #expect(nulls.thread?.type == .dm)
        let optionals = try #require(try Fixtures.payload(Message.self, "\(folder)/MESSAGE_CREATE.optionals.json").data)
        #expect(optionals.editedTimestamp == "1970-01-01T00:00:00.000000+00:00")
        #expect(optionals.member == nil)
    }

    @Test("replies nest the referenced message")
    func referencedMessage() throws {
        let author = User(id: 1, username: "a")
        let original = Message(id: 10, channelID: 2, author: author, content: "hi", timestamp: "t0")
        let reply = Message(id: 11, channelID: 2, author: author, content: "hello", timestamp: "t1", type: 19,
                            referencedMessage: original)
        let json = try JSONTesting.encodeToJSON(reply)
        #expect(json["referenced_message"]?["content"] == .string("hi"))
        let decoded = try JSONTesting.roundTrip(reply)
        #expect(decoded.referencedMessage == original)
        #expect(decoded == reply)
    }

    @Test("lenient decoding of a minimal message")
    func lenient() throws {
        let message = try JSONTesting.decode(
            Message.self,
            #"{"id":"1","channel_id":2,"author":{"id":"3","username":"u","discriminator":"0"},"timestamp":"t","nonce":42,"future_field":{"x":1}}"#)
        #expect(message.content == "")
        #expect(message.tts == false)
        #expect(message.mentions.isEmpty)
        #expect(message.attachments.isEmpty)
        #expect(message.nonce == .number(42))
        #expect(message.channelID == 2)
        #expect(throws: DecodingError.self) {
            try JSONTesting.decode(Message.self, #"{"id":"1","channel_id":"2","timestamp":"t"}"#)
        }
    }
}

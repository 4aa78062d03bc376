import Foundation
import Testing

import EchordModels

@Suite("Request Guild Members, GUILD_MEMBERS_CHUNK, RATE_LIMITED")
struct GuildMemberRequestTests {
    @Test("doc example decodes and re-encodes", .enabled(if: Fixtures.isAvailable, Fixtures.skipReason))
    func docExample() throws {
        let payload = try Fixtures.payload(RequestGuildMembers.self, "request_guild_members.json")
        #expect(payload.opcode == .requestGuildMembers)
        let request = try #require(payload.data)
        #expect(request == RequestGuildMembers(guildID: 41_771_983_444_115_456, query: "", limit: 0))
        #expect(try JSONTesting.encodeToJSON(payload) == Fixtures.json("request_guild_members.json"))
    }

    @Test("synthetic samples with every field", .enabled(if: Fixtures.isAvailable, Fixtures.skipReason))
    func synthetic() throws {
        let folder = "real/Remora.Discord__synthetic-samples_2574696/Commands/REQUEST_GUILD_MEMBERS"
        let full = try #require(try Fixtures.payload(RequestGuildMembers.self, "\(folder)/REQUEST_GUILD_MEMBERS.json").data)
        #expect(full.presences == true)
        #expect(full.userIDs == [999_999_999_999_999_999])
        #expect(full.nonce == "none")
        let optionals = try #require(
            try Fixtures.payload(RequestGuildMembers.self, "\(folder)/REQUEST_GUILD_MEMBERS.optionals.json").data)
        #expect(optionals.query == nil)
        #expect(optionals.userIDs == nil)
        #expect(optionals.limit == 0)
    }

    @Test("user_ids may be one snowflake or an array; guild_id a string or a number")
    func lenientIDs() throws {
        let single = try JSONTesting.decode(RequestGuildMembers.self, #"{"guild_id":308994132968210433,"user_ids":"123123"}"#)
        #expect(single.guildID == 308_994_132_968_210_433)
        #expect(single.userIDs == [123_123])
        let singleNumber = try JSONTesting.decode(RequestGuildMembers.self, #"{"guild_id":"1","user_ids":42}"#)
        #expect(singleNumber.userIDs == [42])
        let many = try JSONTesting.decode(RequestGuildMembers.self, #"{"guild_id":"1","user_ids":["2",3]}"#)
        #expect(many.userIDs == [2, 3])
        #expect(throws: DecodingError.self) {
            try JSONTesting.decode(RequestGuildMembers.self, #"{"guild_id":"1","user_ids":{"a":1}}"#)
        }
        #expect(throws: DecodingError.self) { try JSONTesting.decode(RequestGuildMembers.self, #"{"query":""}"#) }
    }

    @Test("encoding writes user_ids as an array and omits nil fields")
    func encoding() throws {
        let request = RequestGuildMembers(guildID: 308_994_132_968_210_433, userIDs: [123_123], nonce: "n1")
        #expect(try JSONTesting.encodeToJSON(request) == .object([
            "guild_id": .string("308994132968210433"),
            "user_ids": .array([.string("123123")]),
            "nonce": .string("n1"),
        ]))
        #expect(try JSONTesting.roundTrip(request) == request)
    }

    @Test("GUILD_MEMBERS_CHUNK with numeric not_found", .enabled(if: Fixtures.isAvailable, Fixtures.skipReason))
    func chunk() throws {
        let folder = "real/Remora.Discord__synthetic-samples_2574696/Events/GUILD_MEMBERS_CHUNK"
        let payload = try Fixtures.payload(GuildMembersChunk.self, "\(folder)/GUILD_MEMBERS_CHUNK.json")
        let chunk = try #require(payload.data)
        #expect(chunk.chunkIndex == 1)
        #expect(chunk.chunkCount == 1)
        #expect(chunk.members.first?.flags == [.didRejoin])
        #expect(chunk.notFound == [.string("999999999999999999")])
        #expect(chunk.presences?.first?.status == .idle)
        #expect(chunk.presences?.first?.clientStatus == ClientStatus(desktop: .idle, mobile: .dnd, web: .idle))
        #expect(chunk.nonce == "none")
        #expect(try JSONTesting.roundTrip(chunk) == chunk)

        let echoed = try JSONTesting.decode(
            GuildMembersChunk.self,
            #"{"not_found":[123123],"members":[],"guild_id":"308994132968210433","chunk_index":0,"chunk_count":1}"#)
        #expect(echoed.notFound == [.number(123_123)])
        #expect(echoed.presences == nil)
    }

    @Test("RATE_LIMITED body")
    func rateLimited() throws {
        let body = try JSONTesting.decode(
            RateLimited.self, #"{"opcode":8,"retry_after":27.5,"meta":{"guild_id":"1","nonce":"abc"}}"#)
        #expect(body.opcode == .requestGuildMembers)
        #expect(body.retryAfter == 27.5)
        #expect(body.meta == RateLimitedMetadata(guildID: 1, nonce: "abc"))
        let envelope = try JSONTesting.decode(
            GatewayPayload<RateLimited>.self,
            #"{"op":0,"s":9,"t":"RATE_LIMITED","d":{"opcode":8,"retry_after":1,"meta":{"guild_id":"2"}}}"#)
        #expect(envelope.data?.meta.guildID == 2)
        #expect(envelope.data?.meta.nonce == nil)
        #expect(try JSONTesting.encodeToJSON(body) == .object([
            "opcode": .number(8), "retry_after": .number(27.5),
            "meta": .object(["guild_id": .string("1"), "nonce": .string("abc")]),
        ]))
        let noMeta = try JSONTesting.decode(RateLimited.self, #"{"opcode":8,"retry_after":2}"#)
        #expect(noMeta.meta == RateLimitedMetadata())
    }
}

import Foundation
import Testing

import EchordModels

@Suite("Snowflake")
struct SnowflakeTests {
    /// The example ID from spec §11 / Discord's reference page.
    let docExample: Snowflake = 175_928_847_299_117_063

    @Test("timestamp and fields of the doc example")
    func docExampleFields() {
        #expect(docExample.timestampMilliseconds == 1_462_015_105_796)
        #expect(docExample.workerID == 1)
        #expect(docExample.processID == 0)
        #expect(docExample.increment == 7)
        #expect(docExample.date == Date(timeIntervalSince1970: 1_462_015_105.796))
        #expect(Snowflake.discordEpochMilliseconds == 1_420_070_400_000)
    }

    @Test("building an ID from a time inverts the timestamp")
    func fromTimestamp() {
        let rebuilt = Snowflake(timestampMilliseconds: 1_462_015_105_796, workerID: 1, processID: 0, increment: 7)
        #expect(rebuilt == docExample)
        let bare = Snowflake(timestampMilliseconds: 1_462_015_105_796)
        #expect(bare.rawValue == (1_462_015_105_796 - 1_420_070_400_000) << 22)
        #expect(bare.timestampMilliseconds == 1_462_015_105_796)
        #expect(Snowflake(timestampMilliseconds: 0).rawValue == 0, "times before the epoch clamp to it")
        #expect(Snowflake(timestampMilliseconds: 1_420_070_400_000, increment: 0xFFFF).increment == 0xFFF)
    }

    @Test("shard routing is (id >> 22) % shardCount")
    func shards() {
        #expect(docExample.shardIndex(shardCount: 16) == 4)
        #expect(docExample.shardIndex(shardCount: 1) == 0)
        let guild: Snowflake = 41_771_983_444_115_456
        #expect(guild.shardIndex(shardCount: 7) == Int((guild.rawValue >> 22) % 7))
        #expect(guild.shardIndex(shardCount: 1000) == Int(9_959_216_939 % 1000))
    }

    @Test("decodes from a string and from a number")
    func decoding() throws {
        #expect(try JSONTesting.decode(Snowflake.self, "\"175928847299117063\"") == docExample)
        #expect(try JSONTesting.decode(Snowflake.self, "175928847299117063") == docExample)
        #expect(try JSONTesting.decode([Snowflake].self, "[123123, \"18446744073709551615\"]")
            == [123_123, Snowflake(rawValue: .max)])
        #expect(throws: DecodingError.self) { try JSONTesting.decode(Snowflake.self, "\"12ab\"") }
        #expect(throws: DecodingError.self) { try JSONTesting.decode(Snowflake.self, "-1") }
        #expect(throws: DecodingError.self) { try JSONTesting.decode(Snowflake.self, "true") }
    }

    @Test("encodes as a JSON string")
    func encoding() throws {
        #expect(String(decoding: try JSONTesting.encode(docExample), as: UTF8.self) == "\"175928847299117063\"")
        #expect(try JSONTesting.roundTrip(docExample) == docExample)
    }

    @Test("string init, description and ordering")
    func misc() {
        #expect(Snowflake("175928847299117063") == docExample)
        #expect(Snowflake("") == nil)
        #expect(Snowflake("abc") == nil)
        #expect(Snowflake("18446744073709551616") == nil, "overflow")
        #expect(docExample.description == "175928847299117063")
        #expect(Snowflake(rawValue: 1) < Snowflake(rawValue: 2))
        #expect([Snowflake(rawValue: 3), 1, 2].sorted() == [1, 2, 3])
    }
}

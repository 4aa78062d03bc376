import Foundation

/// A Discord ID: a 64-bit unsigned integer that embeds its creation time (spec §11).
///
/// Encodes as a JSON string (Discord's format); decodes from a string **or** a JSON number, since
/// some clients (discord.py) send integers and the gateway may echo a number back (`not_found`).
///
/// Layout: bits 63-22 milliseconds since the Discord epoch, 21-17 worker id, 16-12 process id,
/// 11-0 per-process increment.
public struct Snowflake: RawRepresentable, Hashable, Comparable, Sendable, Codable, CustomStringConvertible,
    ExpressibleByIntegerLiteral
{
    /// The ID as an unsigned integer.
    public var rawValue: UInt64

    /// Wraps an ID value.
    public init(rawValue: UInt64) {
        self.rawValue = rawValue
    }

    /// Wraps an integer literal, for example `let id: Snowflake = 80351110224678912`.
    public init(integerLiteral value: UInt64) {
        self.rawValue = value
    }

    /// Parses a decimal ID string such as `"80351110224678912"`; nil if it is not a valid `UInt64`.
    public init?(_ string: String) {
        guard let value = UInt64(string) else { return nil }
        self.rawValue = value
    }

    /// The Discord epoch, 2015-01-01T00:00:00Z, in Unix milliseconds.
    public static let discordEpochMilliseconds: UInt64 = 1_420_070_400_000

    /// Makes an ID for a point in time (for pagination or simulated objects):
    /// `(timestampMilliseconds - epoch) << 22 | workerID << 17 | processID << 12 | increment`.
    ///
    /// - Parameters:
    ///   - timestampMilliseconds: Unix milliseconds; times before the Discord epoch are clamped to it.
    ///   - workerID: Internal worker id; only the low 5 bits are used.
    ///   - processID: Internal process id; only the low 5 bits are used.
    ///   - increment: Per-process counter; only the low 12 bits are used.
    public init(timestampMilliseconds: UInt64, workerID: UInt8 = 0, processID: UInt8 = 0, increment: UInt16 = 0) {
        let sinceEpoch = timestampMilliseconds >= Self.discordEpochMilliseconds
            ? timestampMilliseconds - Self.discordEpochMilliseconds : 0
        self.rawValue = (sinceEpoch << 22)
            | (UInt64(workerID & 0x1F) << 17)
            | (UInt64(processID & 0x1F) << 12)
            | UInt64(increment & 0xFFF)
    }

    /// The creation time in Unix milliseconds: `(id >> 22) + 1420070400000`.
    public var timestampMilliseconds: UInt64 {
        (rawValue >> 22) + Self.discordEpochMilliseconds
    }

    /// The creation time as a `Date`.
    public var date: Date {
        Date(timeIntervalSince1970: Double(timestampMilliseconds) / 1000)
    }

    /// The internal worker id (bits 21-17).
    public var workerID: UInt8 { UInt8((rawValue & 0x3E0000) >> 17) }

    /// The internal process id (bits 16-12).
    public var processID: UInt8 { UInt8((rawValue & 0x1F000) >> 12) }

    /// The per-process increment (bits 11-0).
    public var increment: UInt16 { UInt16(rawValue & 0xFFF) }

    /// The shard that receives events for this guild ID: `(id >> 22) % shardCount` (spec §7).
    ///
    /// - Precondition: `shardCount > 0`.
    public func shardIndex(shardCount: Int) -> Int {
        precondition(shardCount > 0, "shardCount must be positive")
        return Int((rawValue >> 22) % UInt64(shardCount))
    }

    /// Orders IDs numerically, which is also creation order.
    public static func < (lhs: Snowflake, rhs: Snowflake) -> Bool {
        lhs.rawValue < rhs.rawValue
    }

    /// The decimal ID, as Discord writes it.
    public var description: String { String(rawValue) }

    /// Decodes from a decimal string or a non-negative JSON integer.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let string = try? container.decode(String.self) {
            guard let value = UInt64(string) else {
                throw DecodingError.dataCorruptedError(
                    in: container, debugDescription: "Snowflake string is not an unsigned 64-bit integer: \(string)")
            }
            self.rawValue = value
        } else if let value = try? container.decode(UInt64.self) {
            self.rawValue = value
        } else {
            throw DecodingError.typeMismatch(
                Snowflake.self,
                .init(codingPath: decoder.codingPath,
                      debugDescription: "Expected a snowflake as a decimal string or a non-negative integer"))
        }
    }

    /// Encodes as a decimal JSON string.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(String(rawValue))
    }
}

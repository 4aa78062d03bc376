import Foundation

/// An ISO 8601 timestamp as Discord writes them (`2017-07-11T17:27:07.299000+00:00`), parsed.
///
/// Kept to the microsecond (Discord's precision), so decoding and encoding again gives the same
/// instant. Encodes in Discord's form, in UTC.
public struct Timestamp: Sendable, Hashable, Comparable, Codable, CustomStringConvertible, JSONReadable {
    /// Microseconds since 1970-01-01T00:00:00Z.
    public var microsecondsSince1970: Int64

    /// The timestamp `microsecondsSince1970` µs after the Unix epoch.
    public init(microsecondsSince1970: Int64) {
        self.microsecondsSince1970 = microsecondsSince1970
    }

    /// The timestamp of `date`, to the microsecond.
    public init(_ date: Date) {
        self.microsecondsSince1970 = Int64((date.timeIntervalSince1970 * 1_000_000).rounded())
    }

    /// Parses `2017-07-11T17:27:07.299000+00:00`, with or without a fraction (any number of
    /// digits), with `Z` or a `±HH:MM` offset; nil when `text` is not such a timestamp.
    public init?(iso8601 text: String) {
        var text = text
        guard let value = text.withUTF8({ Self.parse($0) }) else { return nil }
        self.microsecondsSince1970 = value
    }

    /// The instant as a `Date`.
    public var date: Date { Date(timeIntervalSince1970: Double(microsecondsSince1970) / 1_000_000) }

    /// Orders by instant.
    public static func < (lhs: Timestamp, rhs: Timestamp) -> Bool {
        lhs.microsecondsSince1970 < rhs.microsecondsSince1970
    }

    /// Discord's form: `2017-07-11T17:27:07.299000+00:00`.
    public var description: String {
        let seconds = microsecondsSince1970.floorDiv(1_000_000)
        let micros = microsecondsSince1970 - seconds * 1_000_000
        let days = seconds.floorDiv(86_400)
        let secondOfDay = seconds - days * 86_400
        let (year, month, day) = Self.civil(fromDays: days)
        func pad(_ value: Int64, _ width: Int) -> String {
            let digits = String(value)
            return String(repeating: "0", count: max(0, width - digits.count)) + digits
        }
        return "\(pad(year, 4))-\(pad(month, 2))-\(pad(day, 2))T\(pad(secondOfDay / 3600, 2)):"
            + "\(pad(secondOfDay / 60 % 60, 2)):\(pad(secondOfDay % 60, 2)).\(pad(micros, 6))+00:00"
    }

    /// Decodes from an ISO 8601 string.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        guard let timestamp = Timestamp(iso8601: text) else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "Not an ISO 8601 timestamp: \(text)")
        }
        self = timestamp
    }

    /// Encodes in Discord's form.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }

    /// Reads an ISO 8601 string.
    public init(from reader: inout JSONReader) throws {
        let start = reader.offset
        guard let value = try reader.withStringBytes(Self.parse) else {
            throw JSONDecodingError(.invalidValue("an ISO 8601 timestamp"), offset: start)
        }
        self.microsecondsSince1970 = value
    }

    static func parse(_ bytes: UnsafeBufferPointer<UInt8>) -> Int64? {
        if bytes.count == 32, let fast = parseDiscordForm(bytes) { return fast }
        var index = 0
        func number(_ width: Int) -> Int64? {
            guard index + width <= bytes.count else { return nil }
            var value: Int64 = 0
            for _ in 0..<width {
                let digit = bytes[index] &- UInt8(ascii: "0")
                guard digit < 10 else { return nil }
                value = value * 10 + Int64(digit)
                index += 1
            }
            return value
        }
        func expect(_ byte: UInt8) -> Bool {
            guard index < bytes.count, bytes[index] == byte else { return false }
            index += 1
            return true
        }
        guard let year = number(4), expect(UInt8(ascii: "-")), let month = number(2), expect(UInt8(ascii: "-")),
              let day = number(2), index < bytes.count, bytes[index] | 0x20 == UInt8(ascii: "t") || bytes[index] == 0x20
        else { return nil }
        index += 1
        guard let hour = number(2), expect(UInt8(ascii: ":")), let minute = number(2), expect(UInt8(ascii: ":")),
              let second = number(2),
              (1...12).contains(month), (1...31).contains(day), hour < 24, minute < 60, second < 61
        else { return nil }
        var micros: Int64 = 0
        if expect(UInt8(ascii: ".")) {
            var digits = 0
            while index < bytes.count, bytes[index] &- UInt8(ascii: "0") < 10 {
                if digits < 6 { micros = micros * 10 + Int64(bytes[index] - UInt8(ascii: "0")) }
                digits += 1
                index += 1
            }
            guard digits > 0 else { return nil }
            for _ in digits..<max(digits, 6) { micros *= 10 }
        }
        var offsetSeconds: Int64 = 0
        if index < bytes.count, bytes[index] | 0x20 == UInt8(ascii: "z") {
            index += 1
        } else if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") {
            let sign: Int64 = bytes[index] == UInt8(ascii: "-") ? -1 : 1
            index += 1
            guard let offsetHours = number(2), expect(UInt8(ascii: ":")), let offsetMinutes = number(2) else { return nil }
            offsetSeconds = sign * (offsetHours * 3600 + offsetMinutes * 60)
        } else {
            return nil
        }
        guard index == bytes.count else { return nil }
        let days = days(fromCivil: year, month, day)
        let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offsetSeconds
        return seconds * 1_000_000 + micros
    }

    /// The form Discord sends, `2017-07-11T17:27:07.299000+00:00` (32 bytes), read without the
    /// general parser's steps; nil for anything else (which the general parser then reads).
    @inline(__always)
    static func parseDiscordForm(_ bytes: UnsafeBufferPointer<UInt8>) -> Int64? {
        guard let p = bytes.baseAddress, bytes.count == 32,
              p[4] == UInt8(ascii: "-"), p[7] == UInt8(ascii: "-"), p[10] == UInt8(ascii: "T"),
              p[13] == UInt8(ascii: ":"), p[16] == UInt8(ascii: ":"), p[19] == UInt8(ascii: "."),
              p[26] == UInt8(ascii: "+"), p[27] == UInt8(ascii: "0"), p[28] == UInt8(ascii: "0"),
              p[29] == UInt8(ascii: ":"), p[30] == UInt8(ascii: "0"), p[31] == UInt8(ascii: "0")
        else { return nil }
        var invalid = false
        func number(_ start: Int, _ width: Int) -> Int64 {
            var value: Int64 = 0
            for index in start..<(start + width) {
                let digit = p[index] &- UInt8(ascii: "0")
                invalid = invalid || digit >= 10
                value = value &* 10 &+ Int64(digit)
            }
            return value
        }
        let year = number(0, 4), month = number(5, 2), day = number(8, 2)
        let hour = number(11, 2), minute = number(14, 2), second = number(17, 2), micros = number(20, 6)
        guard !invalid, (1...12).contains(month), (1...31).contains(day), hour < 24, minute < 60, second < 61 else { return nil }
        let seconds = days(fromCivil: year, month, day) * 86_400 + hour * 3600 + minute * 60 + second
        return seconds * 1_000_000 + micros
    }

    /// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
    static func days(fromCivil year: Int64, _ month: Int64, _ day: Int64) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = y.floorDiv(400)
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    static func civil(fromDays days: Int64) -> (year: Int64, month: Int64, day: Int64) {
        let z = days + 719_468
        let era = z.floorDiv(146_097)
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let mp = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }
}

extension Int64 {
    fileprivate func floorDiv(_ divisor: Int64) -> Int64 {
        let quotient = self / divisor
        return (self % divisor != 0 && (self < 0) != (divisor < 0)) ? quotient - 1 : quotient
    }
}

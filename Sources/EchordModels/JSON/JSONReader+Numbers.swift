#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension JSONReader {
    /// Reads a snowflake: a string of decimal digits, or (leniently, as Discord sometimes echoes
    /// them) a non-negative integer.
    public mutating func readSnowflakeValue() throws -> UInt64 {
        let byte = try peek()
        if byte == UInt8(ascii: "\"") {
            offset += 1
            let start = offset
            let value = try readDigits(reportingOverflowAt: start)
            guard offset > start, offset < count, base[offset] == UInt8(ascii: "\"") else {
                throw JSONDecodingError(.invalidValue("a snowflake"), offset: start)
            }
            offset += 1
            return value
        }
        guard byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") else { throw mismatch("a snowflake") }
        return try readUInt64()
    }

    /// Reads the decimal digits at the offset (none: 0) into a `UInt64`; throws
    /// `numberOutOfRange` at `start` when they do not fit.
    ///
    /// Eight bytes are looked at a time while eight can be read: the digits among them (those
    /// before the first other byte) are converted together, in three multiplications.
    @inline(__always)
    mutating func readDigits(reportingOverflowAt start: Int) throws -> UInt64 {
        var value: UInt64 = 0
        var digits = 0
        let zeros: UInt64 = 0x3030_3030_3030_3030
        while count - offset >= 8 {
            let word = UInt64(littleEndian: UnsafeRawPointer(base + offset).loadUnaligned(as: UInt64.self))
            let values = word ^ zeros
            // A byte that is not a digit has a high nibble set here (carries only flag bytes after
            // the first such byte, so the lowest flagged byte is exact).
            let others = (values | (values &+ 0x0606_0606_0606_0606)) & 0xF0F0_F0F0_F0F0_F0F0
            let run = others == 0 ? 8 : others.trailingZeroBitCount >> 3
            guard run > 0 else { return value }
            guard digits + run <= 19 else { break }  // the rest is checked one digit at a time
            // The run's digits in the top bytes, zeros below: an eight-digit number.
            var block = run == 8 ? values : values &<< UInt64((8 - run) &* 8)
            block = (block &* 10 &+ (block &>> 8)) & 0x00FF_00FF_00FF_00FF
            block = (block &* 100 &+ (block &>> 16)) & 0x0000_FFFF_0000_FFFF
            block = (block &* 10_000 &+ (block &>> 32)) & 0xFFFF_FFFF
            value = value &* Self.powerOf10(run) &+ block
            digits += run
            offset += run
            if run < 8 { return value }
        }
        // Nineteen digits always fit (10^19 - 1 < 2^64): no overflow check for those.
        let unchecked = min(count, offset + 19 - digits)
        while offset < unchecked {
            let digit = base[offset] &- UInt8(ascii: "0")
            guard digit < 10 else { return value }
            value = value &* 10 &+ UInt64(digit)
            offset += 1
        }
        while offset < count {
            let digit = base[offset] &- UInt8(ascii: "0")
            guard digit < 10 else { break }
            let (times10, o1) = value.multipliedReportingOverflow(by: 10)
            let (sum, o2) = times10.addingReportingOverflow(UInt64(digit))
            guard !o1, !o2 else { throw JSONDecodingError(.numberOutOfRange, offset: start) }
            value = sum
            offset += 1
        }
        return value
    }

    /// 10 to the power `exponent` (1 to 8).
    @inline(__always)
    static func powerOf10(_ exponent: Int) -> UInt64 {
        switch exponent {
        case 1: 10
        case 2: 100
        case 3: 1_000
        case 4: 10_000
        case 5: 100_000
        case 6: 1_000_000
        case 7: 10_000_000
        default: 100_000_000
        }
    }

    /// Reads a non-negative integer that fits 64 bits.
    public mutating func readUInt64() throws -> UInt64 {
        let start = offset
        let value = try readInteger()
        guard !value.negative else { throw JSONDecodingError(.numberOutOfRange, offset: start) }
        return value.magnitude
    }

    /// Reads an integer that fits `Int`. A number with a fraction or exponent is accepted when its
    /// value is a whole number in range, as `JSONDecoder` does.
    public mutating func readInt() throws -> Int {
        let start = offset
        let value = try readInteger()
        if value.negative {
            guard value.magnitude <= UInt64(Int.max) + 1 else { throw JSONDecodingError(.numberOutOfRange, offset: start) }
            return value.magnitude == UInt64(Int.max) + 1 ? Int.min : -Int(value.magnitude)
        }
        guard value.magnitude <= UInt64(Int.max) else { throw JSONDecodingError(.numberOutOfRange, offset: start) }
        return Int(value.magnitude)
    }

    mutating func readInteger() throws -> (negative: Bool, magnitude: UInt64) {
        var byte = try peek()
        let start = offset
        let negative = byte == UInt8(ascii: "-")
        if negative {
            offset += 1
            guard offset < count else { throw JSONDecodingError(.unexpectedEnd, offset: offset) }
            byte = base[offset]
        }
        guard byte &- UInt8(ascii: "0") < 10 else { offset = start; throw mismatch("a number") }
        let value = try readDigits(reportingOverflowAt: start)
        if offset < count, base[offset] == UInt8(ascii: ".") || base[offset] | 0x20 == UInt8(ascii: "e") {
            offset = start
            let double = try readDouble()
            guard let whole = Int64(exactly: double) else { throw JSONDecodingError(.numberOutOfRange, offset: start) }
            return (whole < 0, whole.magnitude)
        }
        return (negative, value)
    }

    /// Reads a number as a `Double`.
    public mutating func readDouble() throws -> Double {
        let byte = try peek()
        guard byte == UInt8(ascii: "-") || byte &- UInt8(ascii: "0") < 10 else { throw mismatch("a number") }
        let start = offset
        var simple = true
        while offset < count {
            let b = base[offset]
            if b &- UInt8(ascii: "0") < 10 || b == UInt8(ascii: "-") {
                offset += 1
            } else if b == UInt8(ascii: ".") || b | 0x20 == UInt8(ascii: "e") || b == UInt8(ascii: "+") {
                simple = false
                offset += 1
            } else {
                break
            }
        }
        let length = offset - start
        if simple && length < 16 {
            var value: Int64 = 0
            var index = start
            let negative = base[index] == UInt8(ascii: "-")
            if negative { index += 1 }
            guard index < offset else { throw JSONDecodingError(.invalidJSON, offset: start) }
            while index < offset {
                let digit = base[index] &- UInt8(ascii: "0")
                guard digit < 10 else { throw JSONDecodingError(.invalidJSON, offset: start) }
                value = value * 10 + Int64(digit)
                index += 1
            }
            return Double(negative ? -value : value)
        }
        guard length < 64 else { throw JSONDecodingError(.invalidJSON, offset: start) }
        return try withUnsafeTemporaryAllocation(of: CChar.self, capacity: 64) { buffer in
            let text = buffer.baseAddress!
            UnsafeMutableRawPointer(text).copyMemory(from: base + start, byteCount: length)
            text[length] = 0
            var end: UnsafeMutablePointer<CChar>? = nil
            let value = strtod(text, &end)
            guard let end, end - text == length, value.isFinite else {
                throw JSONDecodingError(.invalidJSON, offset: start)
            }
            return value
        }
    }
}

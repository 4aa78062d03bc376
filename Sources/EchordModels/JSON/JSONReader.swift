#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A pull parser over JSON bytes in memory: the fast path behind every Echord model.
///
/// It reads the document in one forward pass without building an intermediate tree: a model's
/// ``JSONReadable/init(from:)`` asks for an object, walks its keys (as hashes, compared with
/// constants computed when the models were generated), reads the values it knows straight into
/// their Swift types and skips the rest. Strings without escapes are copied once into a `String`;
/// snowflakes are read from their digits without making a `String` at all.
///
/// A reader is only valid inside ``withReader(_:_:)``, which lends it the bytes.
///
/// Differences from `JSONDecoder`, all on input Discord does not send: object keys are matched as
/// written (a key spelled with escape sequences matches nothing), and invalid UTF-8 in a string is
/// repaired with U+FFFD instead of rejected.
public struct JSONReader {
    /// The deepest nesting of arrays and objects accepted, against stack exhaustion.
    public static let maximumDepth = 64
    /// The deepest nesting of a model inside itself (a reply's `referenced_message`, components in
    /// components) accepted: model frames are large, and decoding may run on a thread with a small
    /// stack. Discord nests these a few levels at most.
    public static let maximumModelNesting = 12

    let base: UnsafePointer<UInt8>
    let count: Int
    /// The offset of the next byte to read.
    public internal(set) var offset: Int
    var depth = 0
    var modelNesting = 0

    init(base: UnsafePointer<UInt8>, count: Int) {
        self.base = base
        self.count = count
        self.offset = 0
    }

    /// Lends a reader over `bytes` to `body`, then checks that only whitespace follows the value
    /// `body` read.
    public static func withReader<Result>(
        _ bytes: UnsafeRawBufferPointer, _ body: (inout JSONReader) throws -> Result
    ) throws -> Result {
        guard let start = bytes.baseAddress, bytes.count > 0 else {
            throw JSONDecodingError(.unexpectedEnd, offset: 0)
        }
        var reader = JSONReader(base: start.assumingMemoryBound(to: UInt8.self), count: bytes.count)
        let result = try body(&reader)
        reader.skipWhitespace()
        guard reader.offset == reader.count else {
            throw JSONDecodingError(.trailingBytes, offset: reader.offset)
        }
        return result
    }

    // MARK: Bytes

    @inline(__always)
    mutating func skipWhitespace() {
        while offset < count {
            let byte = base[offset]
            // Most bytes are above the space: one comparison for them.
            guard byte <= 0x20, byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09 else { return }
            offset += 1
        }
    }

    /// The first byte of the next value, after whitespace, without consuming it.
    @inline(__always)
    public mutating func peek() throws -> UInt8 {
        skipWhitespace()
        guard offset < count else { throw JSONDecodingError(.unexpectedEnd, offset: offset) }
        return base[offset]
    }

    @inline(__always)
    mutating func expect(_ byte: UInt8, _ what: StaticString) throws {
        guard try peek() == byte else { throw mismatch(what) }
        offset += 1
    }

    func mismatch(_ expected: StaticString) -> JSONDecodingError {
        offset < count
            ? JSONDecodingError(.typeMismatch(expected: expected.description), offset: offset)
            : JSONDecodingError(.unexpectedEnd, offset: offset)
    }

    // MARK: Objects and arrays

    /// Called by a model that can contain itself when it starts reading; pair with
    /// ``leaveModel()``. Throws when models nest deeper than ``maximumModelNesting``.
    public mutating func enterModel() throws {
        modelNesting += 1
        guard modelNesting <= Self.maximumModelNesting else { throw JSONDecodingError(.tooDeep, offset: offset) }
    }

    /// Ends what ``enterModel()`` started.
    public mutating func leaveModel() {
        modelNesting -= 1
    }

    /// Where a reader is inside an object or array.
    public struct Cursor {
        var first = true
    }

    /// Consumes `{`.
    public mutating func beginObject() throws -> Cursor {
        try open(UInt8(ascii: "{"), "an object")
    }

    /// The hash of the next key of the object (its value is next), or nil after the closing `}`.
    ///
    /// The hash is ``keyHash(_:)`` of the key's bytes as written (an escape sequence is hashed as
    /// its bytes, so a key spelled with escapes matches no model key).
    @inline(__always)
    public mutating func nextKey(_ cursor: inout Cursor) throws -> UInt64? {
        // Minified JSON, the usual case: `,"` (or the first key's `"`) right at the offset.
        var quoteConsumed = false
        if count - offset >= 2 {
            let byte = base[offset]
            if byte == UInt8(ascii: ","), !cursor.first, base[offset + 1] == UInt8(ascii: "\"") {
                offset += 2
                quoteConsumed = true
            } else if byte == UInt8(ascii: "\""), cursor.first {
                cursor.first = false
                offset += 1
                quoteConsumed = true
            }
        }
        if !quoteConsumed {
            guard try advance(&cursor, closing: UInt8(ascii: "}"), "',' or '}'") else { return nil }
            guard try peek() == UInt8(ascii: "\"") else { throw mismatch("a key") }
            offset += 1
        }
        return try keyAfterQuote()
    }

    /// The hash of the key whose opening quote was just consumed, its `:` consumed too.
    @inline(__always)
    private mutating func keyAfterQuote() throws -> UInt64 {
        let hash = try keyBody()
        offset += 1
        if offset < count, base[offset] == UInt8(ascii: ":") {
            offset += 1
        } else {
            try expect(UInt8(ascii: ":"), "':'")
        }
        return hash
    }

    /// Hashes the key whose body starts at the offset and moves to its closing quote: the key is
    /// looked at and hashed eight bytes at a time in one pass (the first flagged byte of a word is
    /// exact); a key with a backslash, or at the end of the bytes, takes the byte-wise way.
    @inline(__always)
    private mutating func keyBody() throws -> UInt64 {
        let start = offset
        let ones: UInt64 = 0x0101_0101_0101_0101
        var hash = Self.keyHashSeed
        while count - offset >= 8 {
            let word = UInt64(littleEndian: UnsafeRawPointer(base + offset).loadUnaligned(as: UInt64.self))
            let quote = word ^ (ones &* 0x22)
            let backslash = word ^ (ones &* 0x5C)
            let found = (((quote &- ones) & ~quote) | ((backslash &- ones) & ~backslash)) & (ones &* 0x80)
            if found != 0 {
                let before = found.trailingZeroBitCount >> 3
                guard base[offset + before] == UInt8(ascii: "\"") else { break }
                if before > 0 { hash = Self.mixKeyWord(hash, word & ((1 &<< UInt64(before &* 8)) &- 1)) }
                offset += before
                return Self.finishKeyHash(hash, length: offset - start)
            }
            hash = Self.mixKeyWord(hash, word)
            offset += 8
        }
        offset = start
        while true {
            guard offset < count else { throw JSONDecodingError(.unexpectedEnd, offset: offset) }
            let b = base[offset]
            if b == UInt8(ascii: "\"") { break }
            offset += 1
            if b == UInt8(ascii: "\\") {
                // The escaped byte is part of the key as written, even when it is a quote.
                guard offset < count else { throw JSONDecodingError(.unexpectedEnd, offset: offset) }
                offset += 1
            }
        }
        return Self.keyHash(base + start, length: offset - start, readable: count - start)
    }

    /// The hash ``nextKey(_:)`` returns for a key whose UTF-8 bytes (as written) are `key`.
    ///
    /// The key is hashed eight bytes at a time (little-endian words, the last one zero-padded),
    /// then its length is mixed in; `scripts/generate-models.py` computes the same values.
    public static func keyHash(_ key: String) -> UInt64 {
        var key = key
        return key.withUTF8 { bytes in
            guard let start = bytes.baseAddress, bytes.count > 0 else { return finishKeyHash(keyHashSeed, length: 0) }
            return keyHash(start, length: bytes.count, readable: bytes.count)
        }
    }

    /// Where every key's hash starts.
    static let keyHashSeed: UInt64 = 0x9E37_79B9_7F4A_7C15

    @inline(__always)
    static func mixKeyWord(_ hash: UInt64, _ word: UInt64) -> UInt64 {
        let mixed = (hash ^ word) &* 0xFF51_AFD7_ED55_8CCD
        return mixed ^ (mixed &>> 32)
    }

    @inline(__always)
    static func finishKeyHash(_ hash: UInt64, length: Int) -> UInt64 {
        hash ^ UInt64(length)
    }

    /// ``keyHash(_:)`` of the `length` bytes at `start`, of which `readable` (at least `length`)
    /// may be read.
    @inline(__always)
    static func keyHash(_ start: UnsafePointer<UInt8>, length: Int, readable: Int) -> UInt64 {
        var hash = keyHashSeed
        var index = 0
        while index < length {
            let remaining = length - index
            var word: UInt64
            if readable - index >= 8 {
                word = UInt64(littleEndian: UnsafeRawPointer(start + index).loadUnaligned(as: UInt64.self))
                if remaining < 8 { word &= (1 &<< UInt64(remaining &* 8)) &- 1 }
            } else {
                word = 0
                for byte in 0..<min(remaining, 8) { word |= UInt64(start[index + byte]) &<< UInt64(byte &* 8) }
            }
            hash = mixKeyWord(hash, word)
            index += 8
        }
        return finishKeyHash(hash, length: length)
    }

    /// Consumes `[`.
    public mutating func beginArray() throws -> Cursor {
        try open(UInt8(ascii: "["), "an array")
    }

    /// Whether another element follows (it is next), false after the closing `]`.
    public mutating func nextElement(_ cursor: inout Cursor) throws -> Bool {
        try advance(&cursor, closing: UInt8(ascii: "]"), "',' or ']'")
    }

    /// Consumes the opening bracket of an object or array, one level deeper.
    private mutating func open(_ opening: UInt8, _ what: StaticString) throws -> Cursor {
        try expect(opening, what)
        depth += 1
        guard depth <= Self.maximumDepth else { throw JSONDecodingError(.tooDeep, offset: offset) }
        return Cursor()
    }

    /// Consumes the closing bracket (false, one level up) or, before every member but the first,
    /// the comma (true: a member follows).
    @inline(__always)
    private mutating func advance(_ cursor: inout Cursor, closing: UInt8, _ separatorOrEnd: StaticString) throws -> Bool {
        let byte = try peek()
        if byte == closing {
            offset += 1
            depth -= 1
            return false
        }
        if cursor.first {
            cursor.first = false
        } else {
            guard byte == UInt8(ascii: ",") else { throw mismatch(separatorOrEnd) }
            offset += 1
        }
        return true
    }

    // MARK: Scalars

    /// Consumes `null` and returns true when it is next; otherwise consumes nothing.
    @inline(__always)
    public mutating func readNull() throws -> Bool {
        guard try peek() == UInt8(ascii: "n") else { return false }
        try literal4(0x6C6C_756E)  // "null"
        return true
    }

    /// Reads `true` or `false`.
    public mutating func readBool() throws -> Bool {
        switch try peek() {
        case UInt8(ascii: "t"):
            try literal4(0x6575_7274)  // "true"
            return true
        case UInt8(ascii: "f"):
            try literal4(0x6573_6C61, after: 1)  // "false": `f` (seen), then "alse"
            return false
        default: throw mismatch("a Boolean")
        }
    }

    /// Reads four bytes that must be `word` (little-endian: the first byte in the low bits),
    /// compared in one load rather than a call to `memcmp`.
    /// With `skip`, the four bytes start that many bytes on (bytes already checked).
    @inline(__always)
    private mutating func literal4(_ word: UInt32, after skip: Int = 0) throws {
        guard count - offset >= 4 + skip,
            UnsafeRawPointer(base + offset + skip).loadUnaligned(as: UInt32.self) == UInt32(littleEndian: word)
        else {
            throw JSONDecodingError(.invalidJSON, offset: offset)
        }
        offset += 4 + skip
    }

    /// Reads a string.
    public mutating func readString() throws -> String {
        try expect(UInt8(ascii: "\""), "a string")
        let start = offset
        skipPlainStringBytes()
        while offset < count {
            let byte = base[offset]
            if byte == UInt8(ascii: "\"") {
                offset += 1
                return String(decoding: UnsafeBufferPointer(start: base + start, count: offset - 1 - start), as: UTF8.self)
            }
            if byte == UInt8(ascii: "\\") { return try readEscapedString(from: start) }
            guard byte >= 0x20 else { throw JSONDecodingError(.invalidString, offset: offset) }
            offset += 1
        }
        throw JSONDecodingError(.unexpectedEnd, offset: offset)
    }

    /// Lends the UTF-8 bytes of the next string (escape sequences resolved) to `body`, without
    /// making a `String` when the string has no escapes.
    public mutating func withStringBytes<Result>(_ body: (UnsafeBufferPointer<UInt8>) throws -> Result) throws -> Result {
        try expect(UInt8(ascii: "\""), "a string")
        let start = offset
        skipPlainStringBytes()
        while offset < count {
            let byte = base[offset]
            if byte == UInt8(ascii: "\"") {
                offset += 1
                return try body(UnsafeBufferPointer(start: base + start, count: offset - 1 - start))
            }
            if byte == UInt8(ascii: "\\") {
                var text = try readEscapedString(from: start)
                return try text.withUTF8(body)
            }
            guard byte >= 0x20 else { throw JSONDecodingError(.invalidString, offset: offset) }
            offset += 1
        }
        throw JSONDecodingError(.unexpectedEnd, offset: offset)
    }

    /// Moves past the bytes of a string that need no look (not `"`, `\` or a control character),
    /// eight at a time, stopping at the word that holds the first one that does.
    @inline(__always)
    mutating func skipPlainStringBytes() {
        let ones: UInt64 = 0x0101_0101_0101_0101
        let highs: UInt64 = 0x8080_8080_8080_8080
        while count - offset >= 8 {
            let word = UnsafeRawPointer(base + offset).loadUnaligned(as: UInt64.self)
            let quote = word ^ (ones &* 0x22)
            let backslash = word ^ (ones &* 0x5C)
            // A byte of zero (after the xor) or below 0x20 sets its high bit here (borrows can set
            // others too, but only in a word that has such a byte).
            let found = ((quote &- ones) & ~quote) | ((backslash &- ones) & ~backslash) | ((word &- ones &* 0x20) & ~word)
            if found & highs != 0 { return }
            offset += 8
        }
    }

    /// Skips a string whose opening quote is consumed.
    mutating func skipStringBody() throws {
        guard let quote = Self.closingQuote(base, from: offset, count: count) else {
            throw JSONDecodingError(.unexpectedEnd, offset: count)
        }
        offset = quote + 1
    }

    /// The offset of the quote that closes a string whose body starts at `start` (the bytes end at
    /// `count`), nil when no quote does: each quote found, the backslashes before it tell whether
    /// it is escaped.
    @inline(__always)
    package static func closingQuote(_ base: UnsafePointer<UInt8>, from start: Int, count: Int) -> Int? {
        var index = start
        while true {
            guard let quote = nextQuote(base, from: index, count: count) else { return nil }
            var backslashes = 0
            while quote - 1 - backslashes >= index, base[quote - 1 - backslashes] == UInt8(ascii: "\\") {
                backslashes += 1
            }
            if backslashes % 2 == 0 { return quote }
            index = quote + 1
        }
    }

    /// The offset of the next `"` at or after `start`: most strings are short, so the first 32
    /// bytes are looked at eight at a time in place, and `memchr` (a call, but wide) takes the rest.
    @inline(__always)
    static func nextQuote(_ base: UnsafePointer<UInt8>, from start: Int, count: Int) -> Int? {
        let ones: UInt64 = 0x0101_0101_0101_0101
        var index = start
        let inPlace = min(count, start + 32)
        while inPlace - index >= 8 {
            let word = UInt64(littleEndian: UnsafeRawPointer(base + index).loadUnaligned(as: UInt64.self))
            let quote = word ^ (ones &* 0x22)
            // The lowest flagged byte is exact (borrows only flag bytes above a zero one).
            let found = (quote &- ones) & ~quote & (ones &* 0x80)
            if found != 0 { return index + found.trailingZeroBitCount >> 3 }
            index += 8
        }
        guard index < count, let found = memchr(base + index, Int32(UInt8(ascii: "\"")), count - index) else { return nil }
        return UnsafePointer<UInt8>(found.assumingMemoryBound(to: UInt8.self)) - base
    }

    // MARK: Skipping and capturing

    /// Skips the next value, whatever it is.
    public mutating func skipValue() throws {
        let byte = try peek()
        switch byte {
        case UInt8(ascii: "\""):
            offset += 1
            try skipStringBody()
        case UInt8(ascii: "{"), UInt8(ascii: "["):
            let start = offset
            var nesting = 0
            while offset < count {
                let b = base[offset]
                offset += 1
                switch b {
                case UInt8(ascii: "\""): try skipStringBody()
                case UInt8(ascii: "{"), UInt8(ascii: "["):
                    nesting += 1
                    guard depth + nesting <= Self.maximumDepth else { throw JSONDecodingError(.tooDeep, offset: offset) }
                case UInt8(ascii: "}"), UInt8(ascii: "]"):
                    nesting -= 1
                    if nesting == 0 { return }
                default: break
                }
            }
            throw JSONDecodingError(.unexpectedEnd, offset: start)
        case UInt8(ascii: "t"), UInt8(ascii: "f"): _ = try readBool()
        case UInt8(ascii: "n"): try literal4(0x6C6C_756E)  // "null"
        default: _ = try readDouble()
        }
    }

    /// Reads the next value into a ``JSONValue``.
    public mutating func readValue() throws -> JSONValue {
        switch try peek() {
        case UInt8(ascii: "\""): return .string(try readString())
        case UInt8(ascii: "{"):
            var members: [String: JSONValue] = [:]
            var cursor = try beginObject()
            while true {
                let keyStart = offset
                guard try nextKey(&cursor) != nil else { break }
                members[try keyString(from: keyStart)] = try readValue()
            }
            return .object(members)
        case UInt8(ascii: "["):
            var elements: [JSONValue] = []
            var cursor = try beginArray()
            while try nextElement(&cursor) { elements.append(try readValue()) }
            return .array(elements)
        case UInt8(ascii: "t"), UInt8(ascii: "f"): return .bool(try readBool())
        case UInt8(ascii: "n"):
            try literal4(0x6C6C_756E)  // "null"
            return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try readDouble())
        default: throw JSONDecodingError(.invalidJSON, offset: offset)
        }
    }

    /// Re-reads the key that starts at or after `start` (whitespace, a comma) as a string.
    mutating func keyString(from start: Int) throws -> String {
        var copy = self
        copy.offset = start
        var byte = try copy.peek()
        if byte == UInt8(ascii: ",") {
            copy.offset += 1
            byte = try copy.peek()
        }
        return try copy.readString()
    }

    /// The bytes of the next value as written, consumed.
    public mutating func readRawValue() throws -> [UInt8] {
        _ = try peek()
        let start = offset
        try skipValue()
        return Array(UnsafeBufferPointer(start: base + start, count: offset - start))
    }
}

import CZlib
@_spi(EchordInternals) import EchordGateway
import Foundation
import Testing

/// `../shared/fixtures`, when this checkout sits beside it (CI and developer machines); a user's
/// clone has no `../shared`, and the fixture tests skip.
enum SharedFixtures {
    static let directory: URL? = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }  // Tests/EchordGatewayTests/File.swift → package root
        let fixtures = url.deletingLastPathComponent().appendingPathComponent("shared/fixtures")
        return FileManager.default.fileExists(atPath: fixtures.path) ? fixtures : nil
    }()
    static var available: Bool { directory != nil }

    static func bytes(_ path: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: directory!.appendingPathComponent(path)))
    }
}

/// A zlib-stream compressor for the tests: one deflate context, a sync flush per message.
final class TestDeflater {
    private var stream = z_stream()
    init() { precondition(echord_deflateInit2(&stream, Z_DEFAULT_COMPRESSION, 15, 8) == Z_OK) }
    deinit { deflateEnd(&stream) }

    func compress(_ input: [UInt8]) -> [UInt8] {
        var input = input
        var output = [UInt8](repeating: 0, count: Int(deflateBound(&stream, uLong(input.count))) + 64)
        let produced: Int = input.withUnsafeMutableBufferPointer { inBuf in
            output.withUnsafeMutableBufferPointer { outBuf in
                stream.next_in = inBuf.baseAddress
                stream.avail_in = uInt(inBuf.count)
                stream.next_out = outBuf.baseAddress
                stream.avail_out = uInt(outBuf.count)
                precondition(deflate(&stream, Z_SYNC_FLUSH) == Z_OK)
                return outBuf.count - Int(stream.avail_out)
            }
        }
        return Array(output[0..<produced])
    }
}

@Suite("ZlibStreamInflater")
struct ZlibStreamInflaterTests {
    @Test(
        "the real DiscordBM capture inflates through one context to exactly the recorded JSON",
        .enabled(if: SharedFixtures.available, "../shared/fixtures is not beside this checkout"))
    func realCapture() throws {
        let inflater = ZlibStreamInflater()
        let base = "real/DiscordBM__zlib-stream-capture/"
        for name in ["1_hello", "2_ready", "3_guild_create"] {
            let frame = try SharedFixtures.bytes(base + name + ".zlib-frame.bin")
            var expected = try SharedFixtures.bytes(base + name + ".decompressed.json")
            // The fixture files end with a newline that was not part of the stream.
            if expected.last == 0x0A { expected.removeLast() }
            let inflated = try #require(try inflater.feed(frame))
            #expect(inflated == expected, "\(name) differs")
        }
    }

    @Test("a message split across several frames is returned once, when the flush marker arrives")
    func splitMessage() throws {
        let deflater = TestDeflater()
        let inflater = ZlibStreamInflater()
        let message = Array(#"{"op":0,"t":"MESSAGE_CREATE","s":1,"d":{"content":"hello"}}"#.utf8)
        let compressed = deflater.compress(message)
        let cut1 = compressed.count / 3
        let cut2 = compressed.count - 2  // splits the 00 00 ff ff marker itself
        #expect(try inflater.feed(compressed[0..<cut1]) == nil)
        #expect(try inflater.feed(compressed[cut1..<cut2]) == nil)
        #expect(try inflater.feed(compressed[cut2...]) == message)
        // The context carries on: the next message inflates too.
        let second = Array(#"{"op":11}"#.utf8)
        #expect(try inflater.feed(deflater.compress(second)) == second)
    }

    @Test("a message larger than the initial output buffer grows it and inflates whole")
    func largeMessage() throws {
        let deflater = TestDeflater()
        let inflater = ZlibStreamInflater()
        var generator = SystemRandomNumberGenerator()
        let message = (0..<300_000).map { _ in UInt8.random(in: 32...126, using: &generator) }
        #expect(try inflater.feed(deflater.compress(message)) == message)
    }

    @Test("a decompression bomb hits the size cap with a typed error, and the stream stays failed")
    func bomb() throws {
        let deflater = TestDeflater()
        let inflater = ZlibStreamInflater(maxMessageSize: 100_000)
        let bomb = [UInt8](repeating: UInt8(ascii: "a"), count: 5_000_000)
        let compressed = deflater.compress(bomb)
        #expect(compressed.count < 20_000)
        #expect(throws: InflaterError.messageTooLarge(limit: 100_000)) { try inflater.feed(compressed) }
        #expect(throws: InflaterError.messageTooLarge(limit: 100_000)) { try inflater.feed([0, 0, 0xFF, 0xFF]) }
    }

    @Test("garbage ending in the flush marker is a corrupt-stream error, not a crash")
    func garbage() throws {
        let inflater = ZlibStreamInflater()
        #expect(throws: InflaterError.self) { try inflater.feed([1, 2, 3, 4, 5, 0, 0, 0xFF, 0xFF]) }
    }

    @Test("compressed input that never ends with the marker is capped too")
    func endlessInput() throws {
        let inflater = ZlibStreamInflater(maxMessageSize: 1000)
        #expect(try inflater.feed([UInt8](repeating: 7, count: 900)) == nil)
        #expect(throws: InflaterError.pendingInputTooLarge(limit: 1000)) { try inflater.feed([UInt8](repeating: 7, count: 200)) }
    }
}

#if Zstd
import CZstd
@_spi(EchordInternals) import EchordGateway
import NIOCore
import Testing

/// A zstd-stream compressor as Discord runs it: one context per connection, each message flushed
/// (`ZSTD_e_flush`), the frame never ended.
final class TestZstdCompressor {
    private let context: OpaquePointer = ZSTD_createCCtx()
    deinit { ZSTD_freeCCtx(context) }

    func compress(_ input: [UInt8]) -> [UInt8] {
        var output = [UInt8](repeating: 0, count: ZSTD_compressBound(input.count) + 64)
        let produced: Int = input.withUnsafeBytes { inBytes in
            output.withUnsafeMutableBytes { outBytes in
                var inBuffer = ZSTD_inBuffer(src: inBytes.baseAddress, size: inBytes.count, pos: 0)
                var outBuffer = ZSTD_outBuffer(dst: outBytes.baseAddress, size: outBytes.count, pos: 0)
                while true {
                    let remaining = ZSTD_compressStream2(context, &outBuffer, &inBuffer, ZSTD_e_flush)
                    precondition(ZSTD_isError(remaining) == 0)
                    if remaining == 0 { break }
                }
                return outBuffer.pos
            }
        }
        return Array(output[0..<produced])
    }
}

@Suite("ZstdStreamInflater")
struct ZstdStreamInflaterTests {
    @Test("messages flushed into one open zstd frame decompress one by one through one context")
    func stream() throws {
        let compressor = TestZstdCompressor()
        let inflater = ZstdStreamInflater()
        for n in 0..<50 {
            let message = Array(#"{"op":0,"t":"MESSAGE_CREATE","s":\#(n),"d":{"content":"\#(String(repeating: "hello ", count: n))"}}"#.utf8)
            #expect(try inflater.feed(compressor.compress(message)) == message)
        }
    }

    @Test("a large message grows the output buffer")
    func large() throws {
        let compressor = TestZstdCompressor()
        let inflater = ZstdStreamInflater()
        var generator = SystemRandomNumberGenerator()
        let message = (0..<500_000).map { _ in UInt8.random(in: 32...126, using: &generator) }
        #expect(try inflater.feed(compressor.compress(message)) == message)
    }

    @Test("a bomb stops at the size cap with a typed error")
    func bomb() throws {
        let compressor = TestZstdCompressor()
        let inflater = ZstdStreamInflater(maxMessageSize: 100_000)
        let compressed = compressor.compress([UInt8](repeating: 0x61, count: 10_000_000))
        #expect(compressed.count < 10_000)
        #expect(throws: InflaterError.messageTooLarge(limit: 100_000)) { try inflater.feed(compressed) }
    }

    @Test("two connections on one thread share the scratch buffer without seeing each other's bytes")
    func sharedScratch() throws {
        let (compressorA, inflaterA) = (TestZstdCompressor(), ZstdStreamInflater())
        let (compressorB, inflaterB) = (TestZstdCompressor(), ZstdStreamInflater())
        for n in 0..<20 {
            let a = Array(String(repeating: "a\(n) ", count: 20_000 / (n + 1)).utf8)
            let b = Array(#"{"op":11,"n":\#(n)}"#.utf8)
            let inflatedA = try inflaterA.feed(ByteBufferAllocator().buffer(bytes: compressorA.compress(a)))
            let inflatedB = try inflaterB.feed(ByteBufferAllocator().buffer(bytes: compressorB.compress(b)))
            #expect(inflatedA == a)
            #expect(inflatedB == b)
        }
    }

    @Test("garbage is a corrupt-stream error, not a crash")
    func garbage() {
        let inflater = ZstdStreamInflater()
        #expect(throws: InflaterError.self) { try inflater.feed([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]) }
    }
}
#endif

import CZlib
@_spi(EchordInternals) @testable import EchordGateway
import NIOCore
import Testing

/// The inflaters as a shard's reader uses them: fed ByteBuffers in place, sharing one scratch
/// buffer per thread between connections.
@Suite("GatewayInflater")
struct GatewayInflaterTests {
    static func buffer(_ bytes: some Sequence<UInt8>) -> ByteBuffer { ByteBufferAllocator().buffer(bytes: Array(bytes)) }

    static func text(_ count: Int, seed: UInt64) -> [UInt8] {
        var state = seed
        return (0..<count).map { _ in
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return UInt8(32 + (state >> 33) % 95)
        }
    }

    @Test("a message split over many ByteBuffer frames (one byte each) comes out once, whole, at its marker")
    func splitIntoBytes() throws {
        let deflater = TestDeflater()
        let inflater = ZlibStreamInflater()
        let message = Array(#"{"op":0,"t":"MESSAGE_CREATE","s":1,"d":{"content":"split"}}"#.utf8)
        let compressed = deflater.compress(message)
        for byte in compressed.dropLast() { #expect(try inflater.feed(Self.buffer([byte])) == nil) }
        #expect(try inflater.feed(Self.buffer([compressed.last!])) == message)
        // A whole-frame message right after a split one inflates in place.
        let next = Array(#"{"op":11}"#.utf8)
        #expect(try inflater.feed(Self.buffer(deflater.compress(next))) == next)
    }

    @Test("a flush marker split across frames, in every place, completes the message only at its last byte",
          arguments: 1...4)
    func splitMarker(cut: Int) throws {
        let deflater = TestDeflater()
        let inflater = ZlibStreamInflater()
        let message = Array(#"{"op":0,"t":"TYPING_START","s":7,"d":{}}"#.utf8)
        let compressed = deflater.compress(message)
        #expect(compressed.suffix(4) == ZlibStreamInflater.flushMarker)
        let split = compressed.count - cut
        #expect(try inflater.feed(Self.buffer(compressed[..<split])) == nil)
        #expect(try inflater.feed(Self.buffer(compressed[split...])) == message)
        #expect(try inflater.feed(Self.buffer(deflater.compress(message))) == message)
    }

    @Test("two connections on one thread share the scratch buffer without seeing each other's bytes")
    func sharedScratchDoesNotLeak() throws {
        let first = (deflater: TestDeflater(), inflater: ZlibStreamInflater())
        let second = (deflater: TestDeflater(), inflater: ZlibStreamInflater())
        // A large message grows the scratch; a short one from the other connection must be exactly itself.
        let large = Self.text(300_000, seed: 1)
        let short = Array(#"{"op":11}"#.utf8)
        #expect(try first.inflater.feed(Self.buffer(first.deflater.compress(large))) == large)
        #expect(try second.inflater.feed(Self.buffer(second.deflater.compress(short))) == short)
        // Interleaved messages of different sizes, one of them split over frames.
        for round in 0..<20 {
            let a = Self.text(100 + round * 97, seed: UInt64(round) + 10)
            let b = Self.text(3_000 - round * 50, seed: UInt64(round) + 100)
            let compressedA = first.deflater.compress(a)
            let half = compressedA.count / 2
            #expect(try first.inflater.feed(Self.buffer(compressedA[..<half])) == nil)
            let outB = try second.inflater.feed(Self.buffer(second.deflater.compress(b)))
            let outA = try first.inflater.feed(Self.buffer(compressedA[half...]))
            #expect(outA == a)
            #expect(outB == b)
        }
    }

    @Test("a message returned keeps its bytes after the scratch buffer is reused")
    func messagesOwnTheirStorage() throws {
        let deflater = TestDeflater()
        let inflater = ZlibStreamInflater()
        let one = Self.text(5_000, seed: 3)
        let two = Self.text(5_000, seed: 4)
        let outOne = try #require(try inflater.feed(Self.buffer(deflater.compress(one))))
        _ = try inflater.feed(Self.buffer(deflater.compress(two)))
        #expect(outOne == one)
    }

    @Test("the size cap holds whether it is below or above the resident scratch size",
          arguments: [1_000, InflateScratch.residentSize, 100_000, 1 << 20])
    func bombCap(limit: Int) throws {
        let deflater = TestDeflater()
        let inflater = ZlibStreamInflater(maxMessageSize: limit)
        let bomb = [UInt8](repeating: UInt8(ascii: "a"), count: 5_000_000)
        #expect(throws: InflaterError.messageTooLarge(limit: limit)) { try inflater.feed(Self.buffer(deflater.compress(bomb))) }
        // The stream stays failed; another connection on this thread is unaffected.
        #expect(throws: InflaterError.messageTooLarge(limit: limit)) { try inflater.feed(Self.buffer([0, 0, 0xFF, 0xFF])) }
        let other = TestDeflater()
        let message = Array(#"{"op":1,"d":null}"#.utf8)
        #expect(try ZlibStreamInflater(maxMessageSize: limit).feed(Self.buffer(other.compress(message))) == message)
    }

    @Test("a message just under the cap inflates; the scratch buffer shrinks back after a large one")
    func underTheCap() throws {
        let deflater = TestDeflater()
        let inflater = ZlibStreamInflater(maxMessageSize: 200_000)
        let message = Self.text(199_000, seed: 9)
        #expect(try inflater.feed(Self.buffer(deflater.compress(message))) == message)
        #expect(InflateScratch.current.memory.count == InflateScratch.residentSize)
    }

    @Test("without compression every frame is one message, copied out of the buffer")
    func uncompressed() throws {
        let inflater = GatewayInflaters.make(for: .none, maxMessageSize: 1 << 20)
        let message = Array(#"{"op":11}"#.utf8)
        var buffer = Self.buffer(message)
        let out = try inflater.feed(buffer)
        buffer.setBytes([UInt8](repeating: 0, count: message.count), at: buffer.readerIndex)
        #expect(out == message)
        #expect(GatewayInflaters.make(for: .zlibStream, maxMessageSize: 1 << 20) is ZlibStreamInflater)
    }
}

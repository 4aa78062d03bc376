import CZlib

/// Transport compression a client asked for in the gateway URL's `compress` parameter.
public enum TransportCompression: String, Sendable, CaseIterable {
    /// No transport compression.
    case none
    /// `compress=zlib-stream`: one deflate stream per socket, each message ending in a sync flush.
    case zlibStream = "zlib-stream"
    /// `compress=zstd-stream`: one zstd frame per socket, each message in raw blocks.
    case zstdStream = "zstd-stream"
}

/// Compresses every server message of one connection into one continuous stream.
protocol TransportCompressor: AnyObject {
    /// Compresses one gateway message and returns the bytes to send, ending at a flush point so the
    /// client can decode the message without waiting for more.
    func compress(_ message: [UInt8]) -> [UInt8]
}

/// zlib-stream: one deflate context per connection; each message ends with a `Z_SYNC_FLUSH`
/// (`00 00 ff ff`).
final class ZlibStreamCompressor: TransportCompressor {
    private var stream = z_stream()
    private var output: [UInt8] = []

    /// - Parameters:
    ///   - windowBits: zlib window (15 is Discord's); smaller windows cost less memory.
    ///   - memoryLevel: zlib memLevel (8 is zlib's default).
    init(windowBits: Int32 = 15, memoryLevel: Int32 = 8) {
        let status = echord_deflateInit2(&stream, Z_DEFAULT_COMPRESSION, windowBits, memoryLevel)
        precondition(status == Z_OK, "deflateInit2 failed with \(status): out of memory")
    }

    deinit { deflateEnd(&stream) }

    func compress(_ message: [UInt8]) -> [UInt8] {
        var input = message
        let bound = Int(deflateBound(&stream, uLong(input.count))) + 16
        if output.count < bound { output = [UInt8](repeating: 0, count: bound) }
        var produced = 0
        input.withUnsafeMutableBufferPointer { inBuf in
            stream.next_in = inBuf.baseAddress
            stream.avail_in = uInt(inBuf.count)
            repeat {
                if produced == output.count { output.append(contentsOf: repeatElement(0, count: output.count)) }
                output.withUnsafeMutableBufferPointer { outBuf in
                    stream.next_out = outBuf.baseAddress! + produced
                    stream.avail_out = uInt(outBuf.count - produced)
                    _ = deflate(&stream, Z_SYNC_FLUSH)
                    produced = outBuf.count - Int(stream.avail_out)
                }
            } while stream.avail_out == 0
        }
        stream.next_in = nil
        stream.next_out = nil
        return Array(output[0..<produced])
    }
}

/// zstd-stream without a zstd library: one zstd frame per connection that is never closed, each
/// message carried in raw (stored) blocks.
///
/// Every conforming zstd decoder reads this stream (it is what `ZSTD_compressStream2` emits at
/// level "store"), so clients exercise their real streaming decompressor, while the simulator needs
/// no system library. The trade-off is no compression ratio on this transport.
final class ZstdRawStreamEncoder: TransportCompressor {
    private var headerSent = false
    /// Window log of the frame (2^20 = 1 MiB); raw blocks are at most 128 KiB.
    private static let windowLog = 20
    private static let maxBlock = 1 << 17

    func compress(_ message: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(message.count + 16)
        if !headerSent {
            headerSent = true
            out.append(contentsOf: [0x28, 0xB5, 0x2F, 0xFD])  // magic, little endian
            out.append(0x00)  // frame header descriptor: no content size, no checksum, no dictionary
            out.append(UInt8((Self.windowLog - 10) << 3))  // window descriptor
        }
        var offset = 0
        repeat {
            let size = min(Self.maxBlock, message.count - offset)
            let header = UInt32(size) << 3  // last-block bit 0, block type 0 (raw)
            out.append(UInt8(header & 0xFF))
            out.append(UInt8((header >> 8) & 0xFF))
            out.append(UInt8((header >> 16) & 0xFF))
            out.append(contentsOf: message[offset..<offset + size])
            offset += size
        } while offset < message.count
        return out
    }
}

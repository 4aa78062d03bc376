import CZlib
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Inflates a `compress=zlib-stream` connection: one zlib context for the connection's lifetime,
/// fed WebSocket messages until one ends with the `00 00 ff ff` flush marker, which completes a
/// gateway message.
///
/// A frame that holds a whole message (Discord's usual case) is inflated straight from the
/// received bytes; only a message split over several frames is buffered until its marker arrives.
/// Output goes into the thread's shared ``InflateScratch``, then into the message's own storage.
/// The decompressed size of one message is capped, so a decompression bomb becomes
/// ``InflaterError/messageTooLarge(limit:)`` instead of unbounded growth.
@_spi(EchordInternals)
public final class ZlibStreamInflater: GatewayInflater {
    /// The zlib context, at a fixed address (zlib checks it) and outside the object's stored
    /// properties, so inflating does not go through Swift's exclusivity checks.
    private let stream: UnsafeMutablePointer<z_stream>
    /// This thread's scratch buffer, and the thread it belongs to (a shard's connection is read by
    /// one event loop thread: the thread-specific lookup happens once per connection).
    private var scratch: (buffer: InflateScratch, thread: pthread_t)?
    /// The compressed frames of a message split over several frames (empty otherwise).
    private var pending: [UInt8] = []
    /// The most bytes one inflated message may have.
    public let maxMessageSize: Int
    private var failed: InflaterError?

    /// - Parameter maxMessageSize: the cap on one decompressed message (default 64 MiB; the largest
    ///   GUILD_CREATE payloads are a few MiB).
    public init(maxMessageSize: Int = 64 << 20) {
        self.maxMessageSize = maxMessageSize
        stream = .allocate(capacity: 1)
        stream.initialize(to: z_stream())
        let status = echord_inflateInit2(stream, 15)
        precondition(status == Z_OK, "inflateInit2 failed with \(status): out of memory")
        // The stream's Adler-32 is only ever checked at its end, and a gateway stream never ends
        // (every message ends in a sync flush): computing it is wasted work (about 6 % of inflate).
        inflateValidate(stream, 0)
    }

    deinit {
        inflateEnd(stream)
        stream.deinitialize(count: 1)
        stream.deallocate()
    }

    /// The calling thread's scratch buffer.
    private func threadScratch() -> InflateScratch {
        let thread = pthread_self()
        if let scratch, pthread_equal(scratch.thread, thread) != 0 { return scratch.buffer }
        let buffer = InflateScratch.current
        scratch = (buffer, thread)
        return buffer
    }

    /// The zlib flush marker that ends every gateway message.
    public static let flushMarker: [UInt8] = [0x00, 0x00, 0xFF, 0xFF]

    /// Feeds one WebSocket message. Returns the inflated gateway message when `bytes` completed one,
    /// or nil while more frames are needed.
    ///
    /// - Throws: ``InflaterError``; after an error the stream is unusable and every later call
    ///   throws the same error (reconnect with a new inflater).
    public func feed(_ bytes: UnsafeRawBufferPointer) throws -> [UInt8]? {
        if let failed { throw failed }
        if pending.isEmpty && Self.endsWithMarker(bytes) {
            return try inflateCatching(bytes)
        }
        pending.append(contentsOf: bytes)
        guard pending.withUnsafeBytes(Self.endsWithMarker) else {
            if pending.count > maxMessageSize {
                pending = []
                failed = .pendingInputTooLarge(limit: maxMessageSize)
                throw failed!
            }
            return nil
        }
        // The split message is whole: inflate it and let its frames go (nothing stays resident).
        defer { pending = [] }
        return try pending.withUnsafeBytes { try inflateCatching($0) }
    }

    private static func endsWithMarker(_ bytes: UnsafeRawBufferPointer) -> Bool {
        let count = bytes.count
        return count >= 4 && bytes[count - 4] == 0x00 && bytes[count - 3] == 0x00 && bytes[count - 2] == 0xFF
            && bytes[count - 1] == 0xFF
    }

    private func inflateCatching(_ input: UnsafeRawBufferPointer) throws -> [UInt8] {
        do {
            return try inflateMessage(input)
        } catch let error as InflaterError {
            failed = error
            throw error
        }
    }

    /// Inflates one whole message (its compressed bytes end with the flush marker).
    private func inflateMessage(_ input: UnsafeRawBufferPointer) throws -> [UInt8] {
        let scratch = threadScratch()
        let stream = self.stream
        stream.pointee.next_in = UnsafeMutablePointer(mutating: input.baseAddress?.assumingMemoryBound(to: UInt8.self))
        stream.pointee.avail_in = uInt(input.count)
        defer {
            stream.pointee.next_in = nil
            stream.pointee.next_out = nil
            scratch.shrinkIfGrown()
        }
        var produced = 0
        while true {
            let room = try scratch.room(after: produced, limit: maxMessageSize)
            stream.pointee.next_out = scratch.memory.baseAddress!.assumingMemoryBound(to: UInt8.self) + produced
            stream.pointee.avail_out = uInt(room - produced)
            let status = inflate(stream, Z_SYNC_FLUSH)
            produced = room - Int(stream.pointee.avail_out)
            switch status {
            case Z_OK, Z_BUF_ERROR:
                // Done when all input is consumed and the output did not fill up.
                if stream.pointee.avail_in == 0 && stream.pointee.avail_out > 0 { return scratch.takeMessage(count: produced) }
                if status == Z_BUF_ERROR && stream.pointee.avail_out > 0 {
                    throw InflaterError.corruptStream(code: status, message: "no progress possible")
                }
            case Z_STREAM_END:
                return scratch.takeMessage(count: produced)
            default:
                let message = stream.pointee.msg.map { String(cString: $0) } ?? "zlib error"
                throw InflaterError.corruptStream(code: status, message: message)
            }
        }
    }
}

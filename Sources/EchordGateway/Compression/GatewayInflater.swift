import NIOCore
import NIOPosix

/// Errors of transport decompression.
@_spi(EchordInternals)
public enum InflaterError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The decompressor rejected the stream (`code` is its return code, `message` its explanation).
    case corruptStream(code: Int32, message: String)
    /// One message inflated past the configured cap: a decompression bomb or a misconfiguration.
    case messageTooLarge(limit: Int)
    /// Buffered compressed input passed the cap without a flush marker.
    case pendingInputTooLarge(limit: Int)

    public var description: String {
        switch self {
        case .corruptStream(let code, let message): "corrupt compressed stream (\(code)): \(message)"
        case .messageTooLarge(let limit): "a message inflated past the \(limit)-byte limit"
        case .pendingInputTooLarge(let limit): "over \(limit) compressed bytes arrived without a Z_SYNC_FLUSH marker"
        }
    }
}

/// The transport decompression of one connection: fed the payload of every WebSocket data frame
/// in order, it returns each complete gateway message.
///
/// Create one per connection (a compressed stream cannot resume across sockets); after an error it
/// is unusable and every later call throws the same error. A shard's channel handler holds one of these
/// and calls nothing else, whatever the compression (``GatewayCompression/none`` copies the frame).
@_spi(EchordInternals)
public protocol GatewayInflater: AnyObject {
    /// The most bytes one decompressed message may have.
    var maxMessageSize: Int { get }

    /// Feeds the payload of one WebSocket data frame, read in place (never retained). Returns the
    /// gateway message it completes, in storage of its own sized to it, or nil while more frames
    /// are needed.
    ///
    /// - Throws: ``InflaterError``.
    func feed(_ bytes: UnsafeRawBufferPointer) throws -> [UInt8]?
}

@_spi(EchordInternals)
extension GatewayInflater {
    /// Feeds a frame's readable bytes as NIO delivered them, without copying them first.
    @inlinable
    public func feed(_ buffer: ByteBuffer) throws -> [UInt8]? {
        try buffer.withUnsafeReadableBytes { try feed($0) }
    }

    /// Feeds bytes from any collection (contiguous ones are read in place).
    public func feed<Bytes: Collection>(_ bytes: Bytes) throws -> [UInt8]? where Bytes.Element == UInt8 {
        if let result = try bytes.withContiguousStorageIfAvailable({ try feed(UnsafeRawBufferPointer($0)) }) {
            return result
        }
        return try Array(bytes).withUnsafeBytes { try feed($0) }
    }
}

/// Makes the inflater of one connection.
@_spi(EchordInternals)
public enum GatewayInflaters {
    /// The inflater for `compression`, capping one message at `maxMessageSize` bytes.
    ///
    /// - Precondition: `compression.isAvailable` (the shard's configuration is validated first).
    public static func make(for compression: GatewayCompression, maxMessageSize: Int) -> any GatewayInflater {
        switch compression {
        case .none: return UncompressedMessages(maxMessageSize: maxMessageSize)
        case .zlibStream: return ZlibStreamInflater(maxMessageSize: maxMessageSize)
        case .zstdStream:
            #if Zstd
            return ZstdStreamInflater(maxMessageSize: maxMessageSize)
            #else
            preconditionFailure("zstd-stream needs Echord built with the Zstd trait")
            #endif
        }
    }
}

/// No transport compression: every frame is one whole message, copied once into its own storage.
@_spi(EchordInternals)
public final class UncompressedMessages: GatewayInflater {
    /// The most bytes one message may have.
    public let maxMessageSize: Int

    /// - Parameter maxMessageSize: the cap on one message.
    public init(maxMessageSize: Int = 64 << 20) { self.maxMessageSize = maxMessageSize }

    /// Returns a copy of the frame's bytes.
    ///
    /// - Throws: ``InflaterError/messageTooLarge(limit:)`` for a frame over the cap.
    public func feed(_ bytes: UnsafeRawBufferPointer) throws -> [UInt8]? {
        guard bytes.count <= maxMessageSize else { throw InflaterError.messageTooLarge(limit: maxMessageSize) }
        return Array(bytes)
    }
}

/// The output buffer every inflater of one thread shares: a message is inflated into it, then
/// copied once into storage of its own sized to it, so no connection keeps an output buffer
/// between messages (an idle shard holds only its decompression context).
///
/// Safe to mark Sendable by hand: an instance is only ever reached through ``current``, the
/// thread-specific variable of the thread that created it, or through an inflater's cache of it
/// that is used only when `pthread_self()` is that thread (a thread that ended can pass its id to
/// a new one, but never while it still runs), and it is used by that thread only within one
/// synchronous call (no suspension point between taking it and copying the message out). The
/// Sendable conformance exists only because NIO's `ThreadSpecificVariable` needs it to be a global.
final class InflateScratch: @unchecked Sendable {
    /// Its size between messages; a larger message grows it for that message only.
    static let residentSize = 64 << 10
    private(set) var memory: UnsafeMutableRawBufferPointer

    private init() {
        memory = .allocate(byteCount: Self.residentSize, alignment: 16)
    }

    deinit { memory.deallocate() }

    private static let perThread = ThreadSpecificVariable<InflateScratch>()

    /// This thread's scratch buffer (made on first use).
    static var current: InflateScratch {
        if let scratch = perThread.currentValue { return scratch }
        let scratch = InflateScratch()
        perThread.currentValue = scratch
        return scratch
    }

    /// Doubles the buffer (at most to `limit` bytes), keeping its first `keeping` bytes.
    func grow(keeping: Int, limit: Int) {
        let size = min(max(memory.count * 2, 1), limit)
        let larger = UnsafeMutableRawBufferPointer.allocate(byteCount: size, alignment: 16)
        if keeping > 0 { larger.copyMemory(from: UnsafeRawBufferPointer(rebasing: memory[0..<keeping])) }
        memory.deallocate()
        memory = larger
    }

    /// The end of the room an inflater may fill after `produced` bytes of a message: the buffer's
    /// size (at most `limit`), grown when `produced` has filled it.
    ///
    /// - Throws: ``InflaterError/messageTooLarge(limit:)`` when `produced` already reached `limit`.
    func room(after produced: Int, limit: Int) throws -> Int {
        let room = min(memory.count, limit)
        guard produced == room else { return room }
        guard room < limit else { throw InflaterError.messageTooLarge(limit: limit) }
        grow(keeping: produced, limit: limit)
        return min(memory.count, limit)
    }

    /// Copies the first `count` bytes out into a message of its own.
    func takeMessage(count: Int) -> [UInt8] {
        [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
            if count > 0, let target = buffer.baseAddress, let source = memory.baseAddress {
                UnsafeMutableRawPointer(target).copyMemory(from: source, byteCount: count)
            }
            initialized = count
        }
    }

    /// Gives back the memory a large message made it take (called after every message).
    func shrinkIfGrown() {
        guard memory.count > Self.residentSize else { return }
        memory.deallocate()
        memory = .allocate(byteCount: Self.residentSize, alignment: 16)
    }
}

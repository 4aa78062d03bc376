import CZlib

/// Errors of transport decompression.
public enum InflaterError: Error, Sendable, Equatable, CustomStringConvertible {
    /// zlib rejected the stream (`code` is zlib's return code, `message` its explanation).
    case corruptStream(code: Int32, message: String)
    /// One message inflated past the configured cap: a decompression bomb or a misconfiguration.
    case messageTooLarge(limit: Int)
    /// Buffered compressed input passed the cap without a flush marker.
    case pendingInputTooLarge(limit: Int)

    public var description: String {
        switch self {
        case .corruptStream(let code, let message): "corrupt zlib stream (\(code)): \(message)"
        case .messageTooLarge(let limit): "a message inflated past the \(limit)-byte limit"
        case .pendingInputTooLarge(let limit): "over \(limit) compressed bytes arrived without a Z_SYNC_FLUSH marker"
        }
    }
}

/// Inflates a `compress=zlib-stream` connection: one zlib context for the connection's lifetime,
/// fed WebSocket messages until one ends with the `00 00 ff ff` flush marker, which completes a
/// gateway message.
///
/// Create a new inflater for every connection: the stream cannot be resumed across sockets. The
/// output buffer is reused between messages; the decompressed size of one message is capped so a
/// decompression bomb becomes ``InflaterError/messageTooLarge(limit:)`` instead of unbounded growth.
public final class ZlibStreamInflater {
    private var stream = z_stream()
    private var pending: [UInt8] = []
    private var output: [UInt8]
    /// The most bytes one inflated message may have.
    public let maxMessageSize: Int
    private var failed: InflaterError?

    /// - Parameter maxMessageSize: the cap on one decompressed message (default 64 MiB; the largest
    ///   GUILD_CREATE payloads are a few MiB).
    public init(maxMessageSize: Int = 64 << 20) {
        self.maxMessageSize = maxMessageSize
        self.output = [UInt8](repeating: 0, count: 16 << 10)
        let status = echord_inflateInit2(&stream, 15)
        precondition(status == Z_OK, "inflateInit2 failed with \(status): out of memory")
    }

    deinit { inflateEnd(&stream) }

    /// The zlib flush marker that ends every gateway message.
    public static let flushMarker: [UInt8] = [0x00, 0x00, 0xFF, 0xFF]

    /// Feeds one WebSocket message. Returns the inflated gateway message when `bytes` completed one,
    /// or nil while more frames are needed.
    ///
    /// - Throws: ``InflaterError``; after an error the stream is unusable and every later call
    ///   throws the same error (reconnect with a new inflater).
    public func feed<Bytes: Collection>(_ bytes: Bytes) throws -> [UInt8]? where Bytes.Element == UInt8 {
        if let failed { throw failed }
        let complete: Bool
        if pending.isEmpty, bytes.count >= 4, Self.endsWithMarker(bytes) {
            complete = true
            pending.append(contentsOf: bytes)
        } else {
            pending.append(contentsOf: bytes)
            complete = pending.count >= 4 && Self.endsWithMarker(pending)
        }
        guard complete else {
            if pending.count > maxMessageSize {
                pending = []
                failed = .pendingInputTooLarge(limit: maxMessageSize)
                throw failed!
            }
            return nil
        }
        defer { pending.removeAll(keepingCapacity: pending.capacity <= 1 << 20) }
        do {
            return try inflatePending()
        } catch let error as InflaterError {
            failed = error
            throw error
        }
    }

    private static func endsWithMarker<C: Collection>(_ bytes: C) -> Bool where C.Element == UInt8 {
        var index = bytes.index(bytes.endIndex, offsetBy: -4)
        for expected in flushMarker {
            if bytes[index] != expected { return false }
            index = bytes.index(after: index)
        }
        return true
    }

    private func inflatePending() throws -> [UInt8] {
        var produced = 0
        let result: InflaterError? = pending.withUnsafeMutableBufferPointer { input in
            stream.next_in = input.baseAddress
            stream.avail_in = uInt(input.count)
            defer {
                stream.next_in = nil
                stream.next_out = nil
            }
            while true {
                if produced == output.count {
                    guard output.count < maxMessageSize else { return .messageTooLarge(limit: maxMessageSize) }
                    output.append(contentsOf: repeatElement(0, count: min(output.count, maxMessageSize - output.count)))
                }
                let status: Int32 = output.withUnsafeMutableBufferPointer { out in
                    stream.next_out = out.baseAddress! + produced
                    stream.avail_out = uInt(out.count - produced)
                    let status = inflate(&stream, Z_SYNC_FLUSH)
                    produced = out.count - Int(stream.avail_out)
                    return status
                }
                switch status {
                case Z_OK, Z_BUF_ERROR:
                    // Done when all input is consumed and the output did not fill up.
                    if stream.avail_in == 0 && stream.avail_out > 0 { return nil }
                    if status == Z_BUF_ERROR && stream.avail_out > 0 {
                        return .corruptStream(code: status, message: "no progress possible")
                    }
                case Z_STREAM_END:
                    return nil
                default:
                    let message = stream.msg.map { String(cString: $0) } ?? "zlib error"
                    return .corruptStream(code: status, message: message)
                }
            }
        }
        if let result { throw result }
        return Array(output[0..<produced])
    }
}

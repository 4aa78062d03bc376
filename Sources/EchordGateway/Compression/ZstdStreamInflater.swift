#if Zstd
import CZstd
#endif

/// Whether this build has zstd-stream support (the package trait `Zstd`, which needs
/// `libzstd-dev`).
public enum ZstdSupport {
    /// True when Echord was built with the `Zstd` trait.
    public static var isBuiltIn: Bool {
        #if Zstd
        true
        #else
        false
        #endif
    }
}

#if Zstd
/// Decompresses a `compress=zstd-stream` connection: one `ZSTD_DCtx` for the connection's
/// lifetime; each WebSocket message holds exactly one gateway message, inside a zstd frame that
/// stays open across messages.
public final class ZstdStreamInflater {
    private let context: OpaquePointer
    private var output: [UInt8]
    /// The most bytes one decompressed message may have.
    public let maxMessageSize: Int
    private var failed: InflaterError?

    /// - Parameter maxMessageSize: the cap on one decompressed message (default 64 MiB).
    public init(maxMessageSize: Int = 64 << 20) {
        self.maxMessageSize = maxMessageSize
        self.context = ZSTD_createDCtx()
        self.output = [UInt8](repeating: 0, count: 16 << 10)
    }

    deinit { ZSTD_freeDCtx(context) }

    /// Decompresses one WebSocket message into one gateway message.
    ///
    /// - Throws: ``InflaterError``; after an error every later call throws it again.
    public func feed(_ bytes: [UInt8]) throws -> [UInt8] {
        if let failed { throw failed }
        var produced = 0
        let error: InflaterError? = bytes.withUnsafeBytes { input in
            var inBuffer = ZSTD_inBuffer(src: input.baseAddress, size: input.count, pos: 0)
            while true {
                if produced == output.count {
                    guard output.count < maxMessageSize else { return .messageTooLarge(limit: maxMessageSize) }
                    output.append(contentsOf: repeatElement(0, count: min(output.count, maxMessageSize - output.count)))
                }
                let code: Int = output.withUnsafeMutableBytes { out in
                    var outBuffer = ZSTD_outBuffer(dst: out.baseAddress! + produced, size: out.count - produced, pos: 0)
                    let code = ZSTD_decompressStream(context, &outBuffer, &inBuffer)
                    produced += outBuffer.pos
                    return code
                }
                if ZSTD_isError(code) != 0 {
                    return .corruptStream(code: -1, message: "zstd: " + String(cString: ZSTD_getErrorName(code)))
                }
                // Done once the input is consumed and the output did not fill (no data left inside).
                if inBuffer.pos == inBuffer.size && produced < output.count { return nil }
            }
        }
        if let error {
            failed = error
            throw error
        }
        return Array(output[0..<produced])
    }
}
#endif

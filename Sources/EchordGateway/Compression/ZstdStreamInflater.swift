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
///
/// Reads the received bytes in place and decompresses into the thread's shared ``InflateScratch``,
/// then into the message's own storage.
@_spi(EchordInternals)
public final class ZstdStreamInflater: GatewayInflater {
    private let context: OpaquePointer
    /// The most bytes one decompressed message may have.
    public let maxMessageSize: Int
    private var failed: InflaterError?

    /// - Parameter maxMessageSize: the cap on one decompressed message (default 64 MiB).
    public init(maxMessageSize: Int = 64 << 20) {
        self.maxMessageSize = maxMessageSize
        self.context = ZSTD_createDCtx()
    }

    deinit { ZSTD_freeDCtx(context) }

    /// Decompresses one WebSocket message into one gateway message.
    ///
    /// - Throws: ``InflaterError``; after an error every later call throws it again.
    public func feed(_ bytes: UnsafeRawBufferPointer) throws -> [UInt8]? {
        if let failed { throw failed }
        do {
            return try decompress(bytes)
        } catch let error as InflaterError {
            failed = error
            throw error
        }
    }

    private func decompress(_ input: UnsafeRawBufferPointer) throws -> [UInt8] {
        let scratch = InflateScratch.current
        defer { scratch.shrinkIfGrown() }
        var inBuffer = ZSTD_inBuffer(src: input.baseAddress, size: input.count, pos: 0)
        var produced = 0
        while true {
            let room = try scratch.room(after: produced, limit: maxMessageSize)
            var outBuffer = ZSTD_outBuffer(dst: scratch.memory.baseAddress! + produced, size: room - produced, pos: 0)
            let code = ZSTD_decompressStream(context, &outBuffer, &inBuffer)
            produced += outBuffer.pos
            if ZSTD_isError(code) != 0 {
                throw InflaterError.corruptStream(code: -1, message: "zstd: " + String(cString: ZSTD_getErrorName(code)))
            }
            // Done once the input is consumed and the output did not fill (no data left inside).
            if inBuffer.pos == inBuffer.size && produced < room { return scratch.takeMessage(count: produced) }
        }
    }
}
#endif

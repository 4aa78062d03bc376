/// Transport compression for a shard's connection.
public enum GatewayCompression: String, Sendable, CaseIterable, CustomStringConvertible {
    /// No compression: JSON in TEXT frames.
    case none
    /// `compress=zlib-stream` (zlib is always available).
    case zlibStream = "zlib-stream"
    /// `compress=zstd-stream`; only when Echord is built with the `Zstd` trait
    /// (see ``GatewayCompression/isAvailable``).
    case zstdStream = "zstd-stream"

    /// The best compression this build supports: zstd where built in, else zlib.
    public static var preferred: GatewayCompression { zstdStream.isAvailable ? .zstdStream : .zlibStream }

    /// Whether this build can decompress it.
    public var isAvailable: Bool {
        switch self {
        case .none, .zlibStream: true
        case .zstdStream: ZstdSupport.isBuiltIn
        }
    }

    var queryValue: String? { self == .none ? nil : rawValue }

    public var description: String { rawValue }
}

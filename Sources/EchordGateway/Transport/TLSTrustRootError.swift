/// Why ``TLSTrustRoot``s could not be used. Thrown before any connection is made, by
/// ``Shard/run()``, ``ShardManager/run()`` and ``GatewayDiscovery``; never retried.
public enum TLSTrustRootError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The file could not be read (missing, not readable, a directory…).
    case unreadableFile(path: String, reason: String)
    /// The file or text has no `-----BEGIN CERTIFICATE-----` block.
    case noCertificate(source: String)
    /// A certificate block could not be parsed, or the input is too large.
    case invalidPEM(source: String, reason: String)
    /// The TLS context could not be made with these certificates.
    case contextFailed(String)

    /// A readable explanation.
    public var description: String {
        switch self {
        case .unreadableFile(let path, let reason): "cannot read the CA file \(path): \(reason)"
        case .noCertificate(let source): "\(source) holds no PEM certificate (-----BEGIN CERTIFICATE-----)"
        case .invalidPEM(let source, let reason): "\(source) is not valid PEM: \(reason)"
        case .contextFailed(let reason): "cannot make a TLS context with the extra trust roots: \(reason)"
        }
    }
}

import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOSSL

/// A certificate authority to trust for `https://` and `wss://` connections, besides the system's
/// trust roots: a private CA, a test server's self-signed certificate, a TLS-inspecting proxy.
///
/// Give it in ``ShardConfiguration/additionalTrustRoots`` (for a manager, in its template
/// ``ShardManager/Configuration/shard``, which also serves discovery):
///
/// ```swift
/// var configuration = ShardManager.Configuration(token: token, intents: .nonPrivileged)
/// configuration.apiBaseURL = "https://127.0.0.1:8443/api/v10"
/// configuration.shard.additionalTrustRoots = [.pemFile("/etc/echord/simulator-ca.pem")]
/// ```
///
/// The system roots stay trusted, and hostname verification stays on: the server's certificate
/// must name the host of the URL (a DNS name in its SubjectAltName, or its IP address for an IP
/// literal). A file is read once, when a shard, a manager or a discovery client first needs it; a
/// change to it takes effect in a new process.
public enum TLSTrustRoot: Sendable, Hashable, CustomStringConvertible {
    /// A PEM file with one or more `-----BEGIN CERTIFICATE-----` blocks.
    case pemFile(String)
    /// PEM text with one or more `-----BEGIN CERTIFICATE-----` blocks.
    case pem(String)

    /// Where the certificates come from: the file's path, or "PEM text".
    public var description: String {
        switch self {
        case .pemFile(let path): "PEM file \(path)"
        case .pem: "PEM text"
        }
    }

    /// The largest file or text read (a CA bundle is a few hundred KB at most).
    static let maxBytes = 4 << 20

    /// The certificates, or a ``TLSTrustRootError`` saying what is wrong.
    func load() throws(TLSTrustRootError) -> [NIOSSLCertificate] {
        let bytes: [UInt8]
        switch self {
        case .pem(let text):
            bytes = Array(text.utf8)
        case .pemFile(let path):
            bytes = try Self.read(path)
        }
        guard bytes.count <= Self.maxBytes else { throw .invalidPEM(source: description, reason: "larger than \(Self.maxBytes) bytes") }
        guard String(decoding: bytes, as: UTF8.self).contains("-----BEGIN CERTIFICATE-----") else {
            throw .noCertificate(source: description)
        }
        do {
            return try NIOSSLCertificate.fromPEMBytes(bytes)
        } catch {
            throw .invalidPEM(source: description, reason: "\(error)")
        }
    }

    private static func read(_ path: String) throws(TLSTrustRootError) -> [UInt8] {
        let url = URL(fileURLWithPath: path)
        do {
            let size = try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int ?? 0
            guard size <= maxBytes else {
                throw TLSTrustRootError.invalidPEM(source: "PEM file \(path)", reason: "larger than \(maxBytes) bytes")
            }
            return Array(try Data(contentsOf: url))
        } catch let error as TLSTrustRootError {
            throw error
        } catch {
            throw .unreadableFile(path: path, reason: error.localizedDescription)
        }
    }
}

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

/// The TLS client contexts of the process: one per distinct set of extra trust roots, shared by
/// every shard and every discovery request that uses that set. Each context holds the system trust
/// roots (about 960 KB), so it is never made per shard or per connection.
enum SharedTLS {
    /// The context with the system roots only.
    static let context: Result<NIOSSLContext, Error> = Result {
        try NIOSSLContext(configuration: .makeClientConfiguration())
    }

    /// Contexts with extra roots, keyed by the set of roots (order and repeats do not matter).
    private static let cache = NIOLockedValueBox<[Set<TLSTrustRoot>: NIOSSLContext]>([:])
    /// The most contexts with extra roots kept (each holds the system roots, about 960 KB).
    static let maxCachedContexts = 16

    /// The shared context that trusts the system roots and `roots`; made (and the files read) the
    /// first time a set is asked for.
    static func context(trusting roots: [TLSTrustRoot]) throws(TLSTrustRootError) -> NIOSSLContext {
        if roots.isEmpty {
            do { return try context.get() } catch { throw .contextFailed("\(error)") }
        }
        let key = Set(roots)
        // Made under the lock: shards that start together must share one context, not race to
        // make several.
        let made: Result<NIOSSLContext, TLSTrustRootError> = cache.withLockedValue { cache in
            if let cached = cache[key] { return .success(cached) }
            let result = Result { () throws(TLSTrustRootError) -> NIOSSLContext in
                var certificates: [NIOSSLCertificate] = []
                for root in roots { certificates += try root.load() }
                var configuration = TLSConfiguration.makeClientConfiguration()
                configuration.additionalTrustRoots = [.certificates(certificates)]
                do {
                    return try NIOSSLContext(configuration: configuration)
                } catch {
                    throw .contextFailed("\(error)")
                }
            }
            if case .success(let context) = result {
                // A bound for programs that make many distinct sets: connections keep the contexts
                // they use alive, so an evicted one is only made again when asked for again.
                if cache.count >= maxCachedContexts, let victim = cache.keys.first { cache[victim] = nil }
                cache[key] = context
            }
            return result
        }
        return try made.get()
    }

    /// The number of contexts with extra roots made so far (for tests).
    static var cachedContextCount: Int { cache.withLockedValue { $0.count } }
}

/// Explains TLS handshake failures; errors of other kinds give nil.
enum TLSFailure {
    /// A readable reason when `error` is a TLS handshake or verification failure; nil otherwise
    /// (a reset or an unclean shutdown is a connection failure, not a TLS one).
    static func explain(_ error: any Error, host: String) -> String? {
        switch error {
        case let error as NIOSSLExtraError where error == .failedToValidateHostname:
            return "the server's certificate does not name \(host) (\(error))"
        case let error as NIOSSLExtraError:
            return "\(error)"
        case let error as NIOSSLError:
            switch error {
            case .handshakeFailed:
                let text = "\(error)"
                if text.contains("CERTIFICATE_VERIFY_FAILED") {
                    // BoringSSL's text adds an error number and a source path: the name is enough.
                    return "the server's certificate is not trusted (CERTIFICATE_VERIFY_FAILED): it is not signed by "
                        + "a CA this client trusts (add the CA with additionalTrustRoots, or --ca-file), or it has "
                        + "expired or is not valid yet"
                }
                if text.contains("WRONG_VERSION_NUMBER") {
                    return "the server does not speak TLS on this port (WRONG_VERSION_NUMBER): should the URL be http:// or ws://?"
                }
                return text
            case .noCertificateToValidate, .unableToValidateCertificate, .cannotFindPeerIP:
                return "\(error)"
            default:
                return nil
            }
        default:
            return nil
        }
    }
}

/// Sits right after the TLS handler and keeps the first TLS failure of the connection, so a failed
/// handshake is reported as such (not as the closed channel it leaves behind, nor as a timeout).
final class TLSFailureRecorder: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = NIOAny

    let host: String
    let failure: NIOLockedValueBox<String?>

    init(host: String, failure: NIOLockedValueBox<String?>) {
        self.host = host
        self.failure = failure
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if let reason = TLSFailure.explain(error, host: host) {
            failure.withLockedValue { if $0 == nil { $0 = reason } }
        }
        context.fireErrorCaught(error)
    }
}

extension ChannelPipeline.SynchronousOperations {
    /// Adds the TLS client handler (SNI and hostname verification for `host`: the name for a DNS
    /// name; no SNI and the peer's IP address checked against the certificate's IP SANs for an IP
    /// literal) and a ``TLSFailureRecorder`` after it.
    func addTLSClientHandlers(context: NIOSSLContext, host: String, failure: NIOLockedValueBox<String?>) throws {
        let handler = try NIOSSLClientHandler(context: context, serverHostname: host.isIPAddress ? nil : host)
        try addHandler(handler)
        try addHandler(TLSFailureRecorder(host: host, failure: failure))
    }
}

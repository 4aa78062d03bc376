import Crypto
import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOSSL
import SwiftASN1
import X509

/// TLS for a ``GatewaySimulator``: with it set in ``SimulatorConfiguration/tls``, the simulator
/// serves REST on `https://` and the gateway on `wss://`, on the same port, and hands out `wss://`
/// URLs in `GET /gateway`, `GET /gateway/bot` and READY's `resume_gateway_url`.
///
/// ```swift
/// var configuration = SimulatorConfiguration()
/// configuration.tls = .selfSigned
/// let simulator = try await GatewaySimulator.start(configuration: configuration)
/// var shard = ShardConfiguration(token: token, intents: .guilds)
/// shard.gatewayURL = simulator.gatewayURL                              // wss://127.0.0.1:PORT/gateway
/// shard.additionalTrustRoots = [.pem(simulator.certificatePEM!)]      // trust it, verification stays on
/// ```
public struct SimulatorTLSConfiguration: Sendable {
    /// Where the simulator's certificate and key come from.
    public enum Identity: Sendable {
        /// A certificate made at start: ECDSA P-256, self-signed, for IP 127.0.0.1, IP ::1 and DNS
        /// `localhost`, valid from one hour before start for ``SimulatorTLSConfiguration/validity``.
        case generated
        /// A PEM certificate chain (leaf first) and its PEM private key.
        case pem(certificateChain: String, privateKey: String)
    }

    /// The certificate and key.
    public var identity: Identity
    /// How long a generated certificate is valid after start (30 days).
    public var validity: Duration = .seconds(30 * 86_400)

    /// TLS with `identity`.
    public init(identity: Identity) {
        self.identity = identity
    }

    /// TLS with a certificate made at start (see ``Identity/generated``).
    public static var selfSigned: SimulatorTLSConfiguration { .init(identity: .generated) }

    /// TLS with the PEM certificate chain and private key read from two files.
    ///
    /// - Throws: ``SimulatorTLSError/unreadableFile(path:reason:)`` when a file cannot be read.
    public static func pemFiles(certificateChain: String, privateKey: String) throws -> SimulatorTLSConfiguration {
        .init(identity: .pem(certificateChain: try readText(certificateChain), privateKey: try readText(privateKey)))
    }

    private static func readText(_ path: String) throws -> String {
        do {
            let size = try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int ?? 0
            guard size <= 4 << 20 else { throw SimulatorTLSError.unreadableFile(path: path, reason: "larger than 4 MiB") }
            return String(decoding: try Data(contentsOf: URL(fileURLWithPath: path)), as: UTF8.self)
        } catch let error as SimulatorTLSError {
            throw error
        } catch {
            throw SimulatorTLSError.unreadableFile(path: path, reason: error.localizedDescription)
        }
    }
}

/// Why the simulator's TLS could not be set up.
public enum SimulatorTLSError: Error, Sendable, Equatable, CustomStringConvertible {
    /// A certificate or key file could not be read.
    case unreadableFile(path: String, reason: String)
    /// The certificate chain is not valid PEM, or holds no certificate.
    case invalidCertificate(String)
    /// The private key is not valid PEM, or does not belong to the certificate.
    case invalidPrivateKey(String)
    /// Making the certificate failed.
    case generationFailed(String)

    /// A readable explanation.
    public var description: String {
        switch self {
        case .unreadableFile(let path, let reason): "cannot read \(path): \(reason)"
        case .invalidCertificate(let why): "the TLS certificate is not usable: \(why)"
        case .invalidPrivateKey(let why): "the TLS private key is not usable: \(why)"
        case .generationFailed(let why): "could not make a TLS certificate: \(why)"
        }
    }
}

/// The server side of the simulator's TLS: the context every accepted connection uses and the
/// certificate chain it presents, as PEM.
struct SimulatorTLSServer: Sendable {
    let context: NIOSSLContext
    let certificatePEM: String
    /// The SNI host name of every handshake, in order (nil: none sent); the newest 10,000.
    let serverNames = NIOLockedValueBox<[String?]>([])
    static let maxServerNames = 10_000

    init(_ configuration: SimulatorTLSConfiguration) throws {
        let chainPEM: String
        let keyPEM: String
        switch configuration.identity {
        case .generated:
            (chainPEM, keyPEM) = try SelfSignedCertificate.make(validity: configuration.validity)
        case .pem(let chain, let key):
            (chainPEM, keyPEM) = (chain, key)
        }
        let chain: [NIOSSLCertificate]
        do {
            chain = try NIOSSLCertificate.fromPEMBytes(Array(chainPEM.utf8))
        } catch {
            throw SimulatorTLSError.invalidCertificate("\(error)")
        }
        let key: NIOSSLPrivateKey
        do {
            key = try NIOSSLPrivateKey(bytes: Array(keyPEM.utf8), format: .pem)
        } catch {
            throw SimulatorTLSError.invalidPrivateKey("\(error)")
        }
        var tls = TLSConfiguration.makeServerConfiguration(certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key))
        // Called at every ClientHello: records what the client asked for (SNI), changes nothing.
        tls.sslContextCallback = { [serverNames] values, promise in
            serverNames.withLockedValue { names in
                if names.count >= Self.maxServerNames { names.removeFirst(names.count / 2) }
                names.append(values.serverHostname)
            }
            promise.succeed(.noChanges)
        }
        do {
            context = try NIOSSLContext(configuration: tls)
        } catch {
            throw SimulatorTLSError.invalidPrivateKey("\(error)")
        }
        certificatePEM = chainPEM
    }

    /// Puts TLS in front of an accepted connection's HTTP pipeline.
    func addHandlers(to channel: any Channel, logger: Logger) throws {
        try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: context))
        try channel.pipeline.syncOperations.addHandler(TLSErrorLogger(logger: logger))
    }
}

/// Logs a connection's TLS failures (a client that does not trust the certificate) at `debug`.
private final class TLSErrorLogger: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = NIOAny
    let logger: Logger

    init(logger: Logger) { self.logger = logger }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if error is NIOSSLError || error is BoringSSLError {
            logger.debug("TLS failed", metadata: ["error": "\(error)", "peer": "\(context.remoteAddress.map { "\($0)" } ?? "?")"])
        }
        context.fireErrorCaught(error)
    }
}

/// Makes the simulator's self-signed certificate with swift-certificates.
enum SelfSignedCertificate {
    /// An ECDSA P-256 certificate and its key, both PEM: subject and issuer "Echord simulator",
    /// SubjectAltName IP 127.0.0.1, IP ::1 and DNS localhost (or the names given), valid from an
    /// hour before `now` for `validity`.
    static func make(
        validity: Duration, now: Date = Date(), dnsNames: [String] = ["localhost"],
        ipAddresses: [[UInt8]] = [[127, 0, 0, 1], Array(repeating: 0, count: 15) + [1]]
    ) throws -> (certificate: String, privateKey: String) {
        do {
            let key = P256.Signing.PrivateKey()
            let certificateKey = Certificate.PrivateKey(key)
            let name = try DistinguishedName {
                OrganizationName("Echord")
                CommonName("Echord simulator")
            }
            let names: [GeneralName] =
                ipAddresses.map { .ipAddress(ASN1OctetString(contentBytes: $0[...])) } + dnsNames.map { .dnsName($0) }
            // It is its own trust anchor and the server's certificate at once: a CA that may sign
            // only itself (path length 0), usable for server authentication.
            let extensions = try Certificate.Extensions {
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: 0))
                Critical(KeyUsage(digitalSignature: true, keyCertSign: true))
                try ExtendedKeyUsage([.serverAuth])
                SubjectAlternativeNames(names)
            }
            let seconds = Double(validity.components.seconds)
            let certificate = try Certificate(
                version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: certificateKey.publicKey,
                notValidBefore: now.addingTimeInterval(-3600), notValidAfter: now.addingTimeInterval(seconds),
                issuer: name, subject: name, signatureAlgorithm: .ecdsaWithSHA256, extensions: extensions,
                issuerPrivateKey: certificateKey)
            let pem = try certificate.serializeAsPEM().pemString
            return (pem.hasSuffix("\n") ? pem : pem + "\n", key.pemRepresentation)
        } catch {
            throw SimulatorTLSError.generationFailed("\(error)")
        }
    }
}

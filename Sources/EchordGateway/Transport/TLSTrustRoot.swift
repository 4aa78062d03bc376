import Foundation
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

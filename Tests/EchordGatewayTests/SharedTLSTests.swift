import Foundation
import Testing

@testable import EchordGateway

/// The process-wide TLS contexts: one per distinct set of extra trust roots, and typed errors for
/// roots that cannot be loaded.
@Suite("Shared TLS contexts and trust roots")
struct SharedTLSTests {
    /// Two self-signed test CAs (P-256, valid until 2126); only parsed here, never used to connect.
    static let caA = """
-----BEGIN CERTIFICATE-----
MIIBhjCCAS2gAwIBAgIUXgPpM3uNsCW6Ssd9nH2ZHGJ1jaUwCgYIKoZIzj0EAwIw
GDEWMBQGA1UEAwwNZWNob3JkLXRlc3QtYTAgFw0yNjEyMDExOTE5MzZaGA8yMTI2
MTEwNzE5MTkzNlowGDEWMBQGA1UEAwwNZWNob3JkLXRlc3QtYTBZMBMGByqGSM49
AgEGCCqGSM49AwEHA0IABLUqpfxVLECPAH6QG52bq74l4on1jyk/Fh6DeUMWWTd7
y7QOyZYlgIVCaZwshTDN65Lx1T6+0Z7ZF3OcYm455pSjUzBRMB0GA1UdDgQWBBTg
7MCjum4z5eFqkg3U8dsBS9qD6TAfBgNVHSMEGDAWgBTg7MCjum4z5eFqkg3U8dsB
S9qD6TAPBgNVHRMBAf8EBTADAQH/MAoGCCqGSM49BAMCA0cAMEQCIBSivckSR7R2
uKNNSQiVyAVorRn1ayaQoetMLeQIMg8lAiA/uVfzm8Z35mupiwbKwWNM6IQBchL4
X5sW9d6jdK06sA==
-----END CERTIFICATE-----
"""
    static let caB = """
-----BEGIN CERTIFICATE-----
MIIBhzCCAS2gAwIBAgIUd/rYia3BynYWRIZd0opzeEjnU1kwCgYIKoZIzj0EAwIw
GDEWMBQGA1UEAwwNZWNob3JkLXRlc3QtYjAgFw0yNjEyMDExOTE5MzZaGA8yMTI2
MTEwNzE5MTkzNlowGDEWMBQGA1UEAwwNZWNob3JkLXRlc3QtYjBZMBMGByqGSM49
AgEGCCqGSM49AwEHA0IABOP8UXKLigjV2szxJ5TxUaV0W6vmaIYiZJB6bugi25sU
hxF29kKJ3rETaXox2GsxYmvX66KGjd93QRSo0LLKlMyjUzBRMB0GA1UdDgQWBBQY
DZWoT/rlxY3uwhYNnfgkY+MMUjAfBgNVHSMEGDAWgBQYDZWoT/rlxY3uwhYNnfgk
Y+MMUjAPBgNVHRMBAf8EBTADAQH/MAoGCCqGSM49BAMCA0gAMEUCIEIRpF1roJKL
M3VOUdqguHPnkcfjPP8bpAcPlz+CeH+UAiEAmwDSbJn4lkzU9hcliJGzsH22wnPU
P5xI829YAZsF3cM=
-----END CERTIFICATE-----
"""

    static func temporaryFile(_ contents: [UInt8]) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("echord-ca-\(UUID().uuidString).pem").path
        try Data(contents).write(to: URL(fileURLWithPath: path))
        return path
    }

    @Test("the same set of roots (in any order, repeated) gives the one shared context; another set gets its own")
    func oneContextPerSet() throws {
        let first = try SharedTLS.context(trusting: [.pem(Self.caA), .pem(Self.caB)])
        #expect(try SharedTLS.context(trusting: [.pem(Self.caB), .pem(Self.caA), .pem(Self.caB)]) === first)
        #expect(try SharedTLS.context(trusting: [.pem(Self.caA)]) !== first)
        #expect(try SharedTLS.context(trusting: [.pem(Self.caA)]) === SharedTLS.context(trusting: [.pem(Self.caA)]))
        #expect(try SharedTLS.context(trusting: []) === SharedTLS.context.get())
        // Both certificates of one file are trusted: the file is a bundle.
        let bundle = try Self.temporaryFile(Array((Self.caA + "\n" + Self.caB + "\n").utf8))
        defer { try? FileManager.default.removeItem(atPath: bundle) }
        #expect(try TLSTrustRoot.pemFile(bundle).load().count == 2)
        #expect(try SharedTLS.context(trusting: [.pemFile(bundle)]) === SharedTLS.context(trusting: [.pemFile(bundle)]))
    }

    @Test("roots that cannot be loaded: missing or unreadable file, no certificate, bad PEM, too large")
    func loadErrors() throws {
        let missing = "/nonexistent/echord-\(UUID().uuidString).pem"
        #expect {
            try SharedTLS.context(trusting: [.pemFile(missing)])
        } throws: { error in
            if case TLSTrustRootError.unreadableFile(let path, _) = error { path == missing } else { false }
        }
        let directory = FileManager.default.temporaryDirectory.path
        #expect {
            try TLSTrustRoot.pemFile(directory).load()
        } throws: { error in
            if case TLSTrustRootError.unreadableFile = error { true } else { false }
        }
        #expect(throws: TLSTrustRootError.noCertificate(source: "PEM text")) { try TLSTrustRoot.pem("").load() }
        let empty = try Self.temporaryFile([])
        defer { try? FileManager.default.removeItem(atPath: empty) }
        #expect(throws: TLSTrustRootError.noCertificate(source: "PEM file \(empty)")) { try TLSTrustRoot.pemFile(empty).load() }
        let garbled = "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n"
        #expect {
            try TLSTrustRoot.pem(garbled).load()
        } throws: { error in
            if case TLSTrustRootError.invalidPEM(let source, _) = error { source == "PEM text" } else { false }
        }
        let huge = try Self.temporaryFile(Array(repeating: UInt8(ascii: "A"), count: TLSTrustRoot.maxBytes + 1))
        defer { try? FileManager.default.removeItem(atPath: huge) }
        #expect {
            try TLSTrustRoot.pemFile(huge).load()
        } throws: { error in
            if case TLSTrustRootError.invalidPEM(_, let reason) = error { reason.contains("larger than") } else { false }
        }
        // A failed set is not cached: a working one right after it still loads.
        #expect(try SharedTLS.context(trusting: [.pem(Self.caB)]) === SharedTLS.context(trusting: [.pem(Self.caB)]))
    }

    @Test("the descriptions say what is wrong and where")
    func descriptions() {
        #expect(TLSTrustRoot.pemFile("/etc/ca.pem").description == "PEM file /etc/ca.pem")
        #expect(TLSTrustRootError.unreadableFile(path: "/x.pem", reason: "no such file").description == "cannot read the CA file /x.pem: no such file")
        #expect(TLSTrustRootError.noCertificate(source: "PEM text").description.contains("no PEM certificate"))
        #expect(GatewayTransportError.tlsFailed("why").description == "TLS handshake failed: why")
    }
}

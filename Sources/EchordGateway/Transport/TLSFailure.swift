import NIOCore
import NIOSSL

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

import NIOConcurrencyHelpers
import NIOCore
import NIOSSL

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

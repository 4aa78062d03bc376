#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import NIOCore
import NIOPosix

/// Why a connection could not be opened or used.
public enum GatewayTransportError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The URL is not a `ws://` or `wss://` URL.
    case invalidURL(String)
    /// The server answered the upgrade request without upgrading (status).
    case upgradeRefused(status: Int)
    /// The WebSocket upgrade took longer than the handshake timeout.
    case handshakeTimedOut
    /// The TCP connection was not established within the connect timeout.
    case connectTimedOut
    /// The peer reset the connection during the handshake.
    case connectionReset
    /// The connection failed (described: refused, unreachable, DNS, …).
    case connectionFailed(String)
    /// The TLS handshake failed: the certificate is not trusted, does not name the host, or the
    /// server spoke no TLS (described). The connection was never used.
    case tlsFailed(String)

    public var description: String {
        switch self {
        case .invalidURL(let url): "not a ws:// or wss:// URL: \(url)"
        case .upgradeRefused(let status): "the server refused the WebSocket upgrade (HTTP \(status))"
        case .handshakeTimedOut: "the WebSocket handshake timed out"
        case .connectTimedOut: "the TCP connection timed out"
        case .connectionReset: "the connection was reset during the handshake"
        case .connectionFailed(let what): "connection failed: \(what)"
        case .tlsFailed(let what): "TLS handshake failed: \(what)"
        }
    }

    /// The error as a transport error, saying what happened where NIO's error allows it.
    static func classify(_ error: any Error, during phase: String) -> GatewayTransportError {
        if let error = error as? GatewayTransportError { return error }
        if let error = error as? ChannelError, case .connectTimeout = error { return .connectTimedOut }
        if let error = error as? IOError, error.errnoCode == ECONNRESET { return .connectionReset }
        if let error = error as? NIOConnectionError {
            let timedOut = error.connectionErrors.contains {
                if let channelError = $0.error as? ChannelError, case .connectTimeout = channelError { true } else { false }
            }
            if timedOut { return .connectTimedOut }
            if let first = error.connectionErrors.first { return .connectionFailed("\(phase): \(first.error)") }
        }
        return .connectionFailed("\(phase): \(error)")
    }
}

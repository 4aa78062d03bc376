/// Transport settings of a shard's connection.
public struct GatewayTransportConfiguration: Sendable {
    /// How long the TCP (and TLS) connect may take.
    public var connectTimeout: Duration = .seconds(10)
    /// How long the WebSocket upgrade may take once connected (NIO has no timeout of its own).
    public var handshakeTimeout: Duration = .seconds(10)
    /// The largest WebSocket message accepted (READY and GUILD_CREATE can be several MiB).
    public var maxMessageSize: Int = 32 << 20

    /// The defaults: 10 s to connect, 10 s to upgrade, 32 MiB messages.
    public init() {}
}

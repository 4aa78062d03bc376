import Logging
import NIOCore

/// An entry point for the fuzz harnesses of `Fuzz/` (not API): a simulator core without a
/// listening socket, whose per-connection pipeline (HTTP parsing, the handshake checks, the
/// WebSocket upgrade and the gateway's inbound frame handling) can be set up on any channel, e.g.
/// NIO's `EmbeddedChannel`.
///
/// Import it with `@_spi(Fuzzing) import EchordSimulator`.
@_spi(Fuzzing)
public struct SimulatorConnectionHarness {
    private let core: SimulatorCore

    /// A core on `eventLoop` (the loop of the channels it will configure), with a manual clock so
    /// that it schedules nothing on the loop, and a logger that drops everything.
    public init(configuration: SimulatorConfiguration, eventLoop: EventLoop) {
        var configuration = configuration
        configuration.timeSource = .manual
        let logger = Logger(label: "echord.simulator.fuzz", factory: { _ in SwiftLogNoOpLogHandler() })
        self.core = SimulatorCore(configuration: configuration, eventLoop: eventLoop, logger: logger)
    }

    /// Installs the pipeline the simulator gives an accepted TCP connection on `channel`.
    ///
    /// - Throws: the pipeline error when a handler cannot be added.
    public func configure(_ channel: Channel) throws {
        try core.configureAcceptedChannel(channel)
    }
}

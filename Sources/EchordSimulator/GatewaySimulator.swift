import Dispatch
import EchordModels
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// A local gateway that behaves like Discord's: REST discovery under `/api/v10`, the gateway
/// WebSocket, scripted scenarios, synthetic traffic and fault injection, on one port.
///
/// ```swift
/// var configuration = SimulatorConfiguration()
/// configuration.world.guildCount = 4
/// let simulator = try await GatewaySimulator.start(configuration: configuration)
/// print(simulator.apiBaseURL)   // http://127.0.0.1:PORT/api/v10
/// try await simulator.inject(.reconnect, target: .shard(0))
/// try await simulator.shutdown()
/// ```
///
/// The simulator runs on a thread of its own (one event loop); every method here hops to it. After
/// ``shutdown()`` every method throws ``SimulatorError/shutDown`` (the properties keep their values).
public final class GatewaySimulator: Sendable {
    /// The configuration it was started with.
    public let configuration: SimulatorConfiguration
    /// The port it listens on.
    public let port: Int
    /// The ids of the world's guilds, in order.
    public let guildIDs: [Snowflake]
    /// The certificate chain the simulator presents, as PEM, when it serves TLS (nil otherwise):
    /// give it to a client as a trust root, e.g. `ShardConfiguration.additionalTrustRoots`.
    public let certificatePEM: String?
    private let tls: SimulatorTLSServer?
    private let group: MultiThreadedEventLoopGroup
    private let serverChannel: NIOCore.Channel
    private let core: NIOLoopBound<SimulatorCore>
    private let isShutDown = NIOLockedValueBox(false)

    private init(
        configuration: SimulatorConfiguration, port: Int, guildIDs: [Snowflake], group: MultiThreadedEventLoopGroup,
        serverChannel: NIOCore.Channel, core: NIOLoopBound<SimulatorCore>, tls: SimulatorTLSServer?
    ) {
        self.tls = tls
        self.certificatePEM = tls?.certificatePEM
        self.configuration = configuration
        self.port = port
        self.guildIDs = guildIDs
        self.group = group
        self.serverChannel = serverChannel
        self.core = core
    }

    /// Binds and starts serving.
    ///
    /// - Throws: the bind error when the address is taken or cannot be bound;
    ///   ``SimulatorTLSError`` when ``SimulatorConfiguration/tls`` cannot be set up.
    public static func start(
        configuration: SimulatorConfiguration, logger: Logger = Logger(label: "echord.simulator")
    ) async throws -> GatewaySimulator {
        let tls = try configuration.tls.map { try SimulatorTLSServer($0) }
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let loop = group.next()
        do {
            let core = try await loop.submit {
                NIOLoopBound(SimulatorCore(configuration: configuration, eventLoop: loop, logger: logger), eventLoop: loop)
            }.get()
            let channel = try await ServerBootstrap(group: loop)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .serverChannelOption(.backlog, value: 1024)
                .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
                .childChannelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try tls?.addHandlers(to: channel, logger: logger)
                        try core.value.configureAcceptedChannel(channel)
                    }
                }
                .bind(host: configuration.host, port: configuration.port).get()
            let port = channel.localAddress?.port ?? configuration.port
            let guildIDs = try await loop.submit {
                core.value.port = port
                core.value.startTrafficIfConfigured()
                core.value.startChaosIfConfigured()
                return core.value.world.guilds.map(\.id)
            }.get()
            logger.info("simulator listening", metadata: [
                "url": "\(tls == nil ? "http" : "https")://\(configuration.urlHost):\(port)", "scenario": "\(configuration.scenario?.rawValue ?? "none")",
            ])
            return GatewaySimulator(
                configuration: configuration, port: port, guildIDs: guildIDs, group: group, serverChannel: channel,
                core: core, tls: tls)
        } catch {
            try? await shutDown(group)
            throw error
        }
    }

    /// Whether it serves TLS (`https://` and `wss://`; see ``SimulatorConfiguration/tls``).
    public var isTLS: Bool { configuration.tls != nil }
    /// `http://HOST:PORT`, or `https://HOST:PORT` with TLS.
    public var baseURL: String { "\(isTLS ? "https" : "http")://\(configuration.urlHost):\(port)" }
    /// `http(s)://HOST:PORT/api/v10`, the REST base a client uses for discovery.
    public var apiBaseURL: String { baseURL + "/api/v10" }
    /// The gateway URL `GET /gateway` hands out (`ws://`, or `wss://` with TLS).
    public var gatewayURL: String { "\(isTLS ? "wss" : "ws")://\(configuration.urlHost):\(port)/gateway" }
    /// The `resume_gateway_url` READY hands out (`ws://`, or `wss://` with TLS).
    public var resumeGatewayURL: String { "\(isTLS ? "wss" : "ws")://\(configuration.urlHost):\(port)/resume" }

    /// The server name (SNI) each TLS handshake asked for, oldest first; nil where the client sent
    /// none, as it must not for an IP address. Empty without TLS.
    public func tlsServerNames() -> [String?] {
        tls?.serverNames.withLockedValue { $0 } ?? []
    }

    private func onLoop<T: Sendable>(_ body: @escaping @Sendable (SimulatorCore) -> T) async throws -> T {
        let core = self.core
        // Submitted under the lock: `shutdown()` sets the flag under it before it stops the loop, so
        // no task ever reaches a stopped loop (NIO traps on that).
        let future: EventLoopFuture<T>? = isShutDown.withLockedValue { done in
            done ? nil : core.eventLoop.submit { body(core.value) }
        }
        guard let future else { throw SimulatorError.shutDown }
        do {
            return try await future.get()
        } catch {
            // The only way the task fails: the loop stopped before running it.
            throw SimulatorError.shutDown
        }
    }

    /// Injects `fault` into the connections or sessions `target` names; returns how many it touched.
    ///
    /// - Throws: ``SimulatorError/shutDown`` after ``shutdown()``.
    @discardableResult
    public func inject(_ fault: SimulatorFault, target: SimulatorTarget = .all) async throws -> Int {
        try await onLoop { $0.inject(fault, target: target) }
    }

    /// The log entries with an index of at least `since`, oldest first.
    ///
    /// - Throws: ``SimulatorError/shutDown`` after ``shutdown()``.
    public func log(since: Int = 0) async throws -> [SimulatorLogEntry] {
        try await onLoop { $0.logEntries(since: since) }
    }

    /// The rules clients broke, oldest first.
    ///
    /// - Throws: ``SimulatorError/shutDown`` after ``shutdown()``.
    public func violations() async throws -> [SimulatorLogEntry] {
        try await log().filter { if case .violation = $0.kind { true } else { false } }
    }

    /// The sessions the simulator holds, live or waiting for a RESUME.
    ///
    /// - Throws: ``SimulatorError/shutDown`` after ``shutdown()``.
    public func sessions() async throws -> [SimulatorSessionInfo] {
        try await onLoop { $0.sessionInfos() }
    }

    /// Waits until an entry matching `predicate` is in the log and returns the first one.
    ///
    /// - Throws: ``SimulatorError/timedOut(_:)`` after `timeout` of real time;
    ///   ``SimulatorError/shutDown`` after ``shutdown()``.
    @discardableResult
    public func waitForLogEntry(
        timeout: Duration = .seconds(30), since: Int = 0,
        where predicate: @escaping @Sendable (SimulatorLogEntry) -> Bool
    ) async throws -> SimulatorLogEntry {
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        var next = since
        while true {
            let entries = try await log(since: next)
            if let match = entries.first(where: predicate) { return match }
            next = (entries.last?.index ?? next - 1) + 1
            guard clock.now < deadline else { throw SimulatorError.timedOut("no matching log entry within \(timeout)") }
            try await Task.sleep(for: .milliseconds(5))
        }
    }

    /// Moves simulator time forward by `duration` and fires every timer that falls due, in order.
    /// Only for ``SimulatorTimeSource/manual``; with real time it does nothing.
    ///
    /// - Throws: ``SimulatorError/shutDown`` after ``shutdown()``.
    public func advanceTime(by duration: Duration) async throws {
        let nanoseconds = duration.nanoseconds
        try await onLoop { core in
            if case .manual = core.configuration.timeSource { core.advanceTime(by: nanoseconds) }
        }
    }

    /// The ledger's report: faults, sessions, resumes and identifies, the fate of every dispatch,
    /// each shard's ready share and the rules the client broke (see ``ChaosReport``).
    ///
    /// - Throws: ``SimulatorError/shutDown`` after ``shutdown()``.
    public func chaosReport() async throws -> ChaosReport {
        try await onLoop { $0.chaosReport() }
    }

    /// Changes the traffic generator's rate (0 stops it).
    ///
    /// - Throws: ``SimulatorError/shutDown`` after ``shutdown()``.
    public func setTraffic(eventsPerSecond: Double) async throws {
        try await onLoop { $0.setTraffic(eventsPerSecond: eventsPerSecond) }
    }

    /// Sends a dispatch named `eventName` with `data` as its `d` to every session serving
    /// `guildID`, or to every session when it is nil. Returns the number of sessions.
    ///
    /// - Throws: ``SimulatorError/shutDown`` after ``shutdown()``.
    @discardableResult
    public func dispatch(eventName: String, data: SimulatorJSON, guildID: Snowflake? = nil) async throws -> Int {
        let bytes = data.serialized()
        return try await onLoop { $0.dispatchCustom(eventName: eventName, data: bytes, guildID: guildID) }
    }

    /// Closes every connection and the listening socket, and stops the simulator's thread. Calling
    /// it again does nothing; every other method throws ``SimulatorError/shutDown`` from then on.
    public func shutdown() async throws {
        let first = isShutDown.withLockedValue { done in
            defer { done = true }
            return !done
        }
        guard first else { return }
        let core = self.core
        try? await core.eventLoop.submit {
            core.value.stopTimers()
            for conn in core.value.connections.values { conn.drop() }
            for channel in core.value.pendingHTTPChannels.values { channel.close(promise: nil) }
        }.get()
        try? await serverChannel.close()
        try await shutDown(group)
    }
}

/// The queue that finishes simulator shutdowns: a serial queue of our own, so a shutdown never
/// waits for a thread of Dispatch's global queue (NIO's default), whose width other code in the
/// process (Foundation's `Process`, blocking callers) can use up.
private let shutdownQueue = DispatchQueue(label: "dev.echord.simulator.shutdown")

/// Shuts `group` down; its threads are joined on ``shutdownQueue``.
private func shutDown(_ group: MultiThreadedEventLoopGroup) async throws {
    try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, Error>) in
        group.shutdownGracefully(queue: shutdownQueue) { error in
            if let error { continuation.resume(throwing: error) } else { continuation.resume() }
        }
    }
}

/// Errors the simulator's Swift API throws.
public enum SimulatorError: Error, Sendable, Equatable, CustomStringConvertible {
    /// A wait ran out of time.
    case timedOut(String)
    /// The simulator was shut down (``GatewaySimulator/shutdown()``); it serves no more calls.
    case shutDown

    public var description: String {
        switch self {
        case .timedOut(let what): "timed out: \(what)"
        case .shutDown: "the simulator is shut down"
        }
    }
}

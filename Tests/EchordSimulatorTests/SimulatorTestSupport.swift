import EchordModels
import EchordSimulator
import Logging
import Testing

/// Starts a simulator on a free loopback port with `configure` applied, runs `body`, and shuts the
/// simulator down whatever happens.
func withSimulator<T>(
    _ configure: (inout SimulatorConfiguration) -> Void = { _ in },
    _ body: (GatewaySimulator) async throws -> T
) async throws -> T {
    var configuration = SimulatorConfiguration()
    configuration.port = 0
    configuration.world.guildCount = 2
    // Tests drive time by hand unless they ask for real time.
    configuration.timeSource = .manual
    configure(&configuration)
    var logger = Logger(label: "echord.simulator.test")
    logger.logLevel = .critical
    let simulator = try await GatewaySimulator.start(configuration: configuration, logger: logger)
    do {
        let result = try await body(simulator)
        try await simulator.shutdown()
        return result
    } catch {
        try? await simulator.shutdown()
        throw error
    }
}

extension GatewaySimulator {
    /// The client frames the simulator logged, as `(op, text)`, in order.
    func receivedFrames() async throws -> [(op: Int?, text: String)] {
        try await log().filter { $0.kind == .received }.map { ($0.opcode, $0.text ?? "") }
    }

    /// The close codes the simulator sent, in order.
    func serverCloseCodes() async throws -> [UInt16] {
        try await log().compactMap { if case .closedByServer(let code, _) = $0.kind { code } else { nil } }
    }

    /// The rules the simulator logged as broken, in order.
    func brokenRules() async throws -> [String] {
        try await violations().compactMap { if case .violation(let rule, _) = $0.kind { rule } else { nil } }
    }
}

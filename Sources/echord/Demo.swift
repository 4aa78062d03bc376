import ArgumentParser
import EchordSimulator
import Logging

/// `echord` with no arguments.
struct Demo: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Start the embedded simulator with a few guilds and synthetic traffic, and report what it serves.")

    @Option(help: "Stop after this many seconds.") var duration: Double?
    @Option(help: "Port to bind (0 picks a free one).") var port = 0
    @OptionGroup var logging: LoggingOptions

    func run() async throws {
        logging.bootstrap()
        var configuration = SimulatorConfiguration()
        configuration.port = port
        configuration.world.guildCount = 8
        configuration.recommendedShards = 2
        configuration.maxConcurrency = 2
        configuration.traffic.eventsPerSecond = 50
        let simulator = try await GatewaySimulator.start(configuration: configuration)
        print("""
            Echord — the gateway simulator is running on \(simulator.baseURL) with \(simulator.guildIDs.count) guilds, \
            2 recommended shards and 50 events/s of traffic.
            The shard client and the live sharded view arrive with the ShardManager; meanwhile any bot can connect:
              discovery  GET \(simulator.apiBaseURL)/gateway/bot   (Authorization: Bot <any well-formed token>)
              gateway    \(simulator.gatewayURL)?v=10&encoding=json
              faults     curl -X POST '\(simulator.baseURL)/control/reconnect'
            Ctrl-C stops it.
            """)
        await waitForTermination(duration: duration)
        let sessions = await simulator.sessions()
        print("sessions served: \(sessions.count)")
        try await simulator.shutdown()
    }
}

import ArgumentParser
import EchordGateway
import EchordPostgres
import Foundation
import Logging

/// `echord cluster`: looks at a cluster database.
struct ClusterCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cluster",
        abstract: "Inspect a cluster-mode database (PostgreSQL).",
        subcommands: [ClusterStatusCommand.self])
}

/// `echord cluster status --database URL`: members, their shards, lease ages, sessions and checkpoints.
struct ClusterStatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Members, their shards, lease ages, sessions and checkpoints of one bot.",
        discussion: "The password comes from the URL or PGPASSWORD; it is never printed.")

    @Option(help: "The cluster database: postgres://USER@HOST:PORT/DB (password from PGPASSWORD or the URL).")
    var database: String
    @Option(name: .customLong("bot-key"), help: "The bot key the processes were started with.")
    var botKey = "default"
    @Option(help: "Output: json (one object) or pretty.")
    var format = ListenFormat.pretty
    @OptionGroup var logging: LoggingOptions

    func run() async throws {
        logging.bootstrap()
        var configuration = try PostgresClusterConfiguration(url: database)
        configuration.botKey = botKey
        configuration.poolSize = 1
        let cluster = try PostgresCluster(configuration: configuration, logger: Logger(label: "echord.cluster"))
        do {
            let status = try await withThrowingTaskGroup(of: ClusterStatus?.self) { group in
                group.addTask { try await cluster.run(); return nil }
                group.addTask {
                    try await cluster.migrate()
                    return try await cluster.status()
                }
                defer { group.cancelAll() }
                while let next = try await group.next() { if let next { return next } }
                throw CancellationError()
            }
            print(format == .json ? Self.json(status) : Self.pretty(status), terminator: "")
        } catch {
            printError("echord cluster status: error: \(error)")
            throw ExitCode(1)
        }
    }

    static func json(_ status: ClusterStatus) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let data = (try? encoder.encode(status)) ?? Data("{}".utf8)
        return String(decoding: data, as: UTF8.self) + "\n"
    }

    static func pretty(_ status: ClusterStatus) -> String {
        func seconds(_ value: Double) -> String { String(format: "%.1fs", value) }
        var out = "bot \(status.botKey): \(status.members.filter(\.alive).count) live member(s), "
            + "\(status.leases.filter { $0.holder != nil && $0.expiresInSeconds > 0 }.count) shard(s) leased\n"
        for member in status.members {
            out += "member \(member.id)  \(member.alive ? "alive" : "dead ")  heartbeat \(seconds(member.heartbeatAgeSeconds)) ago  "
                + "shards \(member.shards.map(String.init).joined(separator: ","))\n"
        }
        for lease in status.leases {
            out += "shard \(lease.shardID)  holder \(lease.holder ?? "-")  epoch \(lease.epoch)  held \(seconds(lease.ageSeconds))  "
                + "expires in \(seconds(lease.expiresInSeconds))  failovers \(lease.failovers)\n"
        }
        for session in status.sessions {
            out += "session shard \(session.shardID)/\(session.shardCount)  \(session.sessionID)  checkpoint s=\(session.sequence)  "
                + "\(seconds(session.ageSeconds)) ago\n"
        }
        return out
    }
}

/// `echord listen --cluster URL`: a cluster member whose dispatches are printed like `listen`'s.
struct ClusterListenSettings: Sendable {
    var database: PostgresClusterConfiguration
    var shardCount: Int
    var leaseTTL: Duration
    var checkpointInterval: Duration
}

/// Joins the cluster with `settings`, writes each dispatch of the shards this process holds to
/// `sink` until `stop` returns, then hands its shards over (close 4000, checkpoint, release) and
/// leaves.
func listenCluster(
    _ settings: ListenSettings, cluster clusterSettings: ClusterListenSettings, sink: any LineSink, logger: Logger,
    until stop: @escaping @Sendable () async -> Void
) async throws -> ListenSummary {
    let cluster = try PostgresCluster(configuration: clusterSettings.database, logger: logger)
    var configuration = ClusterMember.Configuration(shard: settings.shard, shardCount: clusterSettings.shardCount)
    configuration.shard.sessionSaveInterval = clusterSettings.checkpointInterval
    configuration.apiBaseURL = settings.apiBaseURL
    configuration.leaseTTL = clusterSettings.leaseTTL
    let member = ClusterMember(cluster: cluster, configuration: configuration, logger: logger)
    return try await withThrowingTaskGroup(of: ListenSummary?.self) { group in
        group.addTask { try await cluster.run(); return nil }
        group.addTask {
            try await cluster.migrate()
            let stopper = Task {
                await stop()
                logger.info("stopping: handing the shards over")
                member.stop()
            }
            defer { stopper.cancel() }
            async let running: Void = member.run()
            let summary = await printDispatches(member.events, settings: settings, sink: sink)
            try await running
            return summary
        }
        defer { group.cancelAll() }
        while let next = try await group.next() { if let next { return next } }
        throw CancellationError()
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import EchordGateway
import EchordModels
import EchordSimulator
import Foundation

/// The demo's live view: one line per shard (status, latency, events, faults survived, resumes,
/// identifies, events lost per the simulator's ledger), the totals, and the latest faults with what
/// became of them. Redrawn in place on a terminal, printed as blocks otherwise.
struct DemoLiveView {
    let shardCount: Int
    let interactive: Bool
    private var previousEvents: [Int]
    private var lines = 0

    /// How many of the latest faults the view lists.
    static let faultLines = 5

    init(shardCount: Int, interactive: Bool) {
        self.shardCount = shardCount
        self.interactive = interactive
        self.previousEvents = [Int](repeating: 0, count: shardCount)
    }

    /// Prints the view for this second.
    mutating func render(fleet: [Shard], events: [Int], report: ChaosReport, uptime: Duration) {
        let table = Self.table(fleet: fleet, events: events, previous: previousEvents, report: report, uptime: uptime)
        if interactive && lines > 0 { print("\u{1B}[\(lines)A", terminator: "") }
        print(table.map { interactive ? $0 + "\u{1B}[K" : $0 }.joined(separator: "\n"))
        fflush(nil)
        lines = table.count
        previousEvents = events
    }

    /// The view's lines.
    static func table(fleet: [Shard], events: [Int], previous: [Int], report: ChaosReport, uptime: Duration) -> [String] {
        var table = ["shard  status                latency   events  events/s  faults  resumes  identifies  lost"]
        for shard in fleet {
            let id = shard.configuration.shardID
            let figures = report.shards.first { $0.shardID == id && $0.shardCount == fleet.count }
            let latency = shard.heartbeatLatency.map { String(format: "%.1f ms", Double($0.nanoseconds) / 1e6) } ?? "-"
            table.append(
                pad(String(id), 5, right: true) + "  " + pad(String("\(shard.status)".prefix(20)), 20) + "  " + pad(latency, 8, right: true)
                    + " " + pad(String(events[id]), 8, right: true) + " " + pad(String(events[id] - previous[id]), 9, right: true)
                    + " " + pad("\(figures?.faultsSurvived ?? 0)/\(figures?.faults ?? 0)", 7, right: true)
                    + " " + pad(String(figures?.resumes ?? 0), 8, right: true)
                    + " " + pad(String(figures?.identifies ?? 0), 11, right: true)
                    + " " + pad(String(figures?.lostForbidden ?? 0), 5, right: true))
        }
        let rate = events.reduce(0, +) - previous.reduce(0, +)
        let survived = report.shards.map(\.faultsSurvived).reduce(0, +)
        table.append(String(
            format: "ready %d/%d  events/s %d  uptime %.0f s  faults %d (survived %d)  resumes %d  identifies %d  "
                + "delivered %d  lost %d (ledger)",
            fleet.filter { $0.status == .ready }.count, fleet.count, rate, Double(uptime.components.seconds),
            report.faultsInjected, survived, report.resumes, report.identifies, events.reduce(0, +),
            report.lostForbidden))
        let latest = report.recentFaults.suffix(faultLines)
        for index in 0..<faultLines {
            let offset = index - (faultLines - latest.count)
            guard offset >= 0 else {
                table.append(index == 0 ? "  (no fault yet)" : "")
                continue
            }
            table.append("  " + describe(latest[latest.startIndex + offset]))
        }
        return table
    }

    /// One fault: when, which, where, and how the shard came back.
    static func describe(_ fault: ChaosFaultEvent) -> String {
        let time = String(format: "%7.1f s", Double(fault.timeMilliseconds) / 1000)
        let outcome: String
        switch fault.outcome {
        case .recovering: outcome = fault.connectionEnded ? "recovering…" : "connection up"
        case .resumed: outcome = "resumed in " + recovery(fault)
        case .newSession: outcome = "new session in " + recovery(fault)
        case .connectionKept: outcome = "connection kept"
        }
        return "\(time)  shard \(fault.shardID)  " + pad(fault.kind.rawValue, 26) + outcome
    }

    private static func recovery(_ fault: ChaosFaultEvent) -> String {
        String(format: "%.2f s", Double(fault.recoveryMilliseconds ?? 0) / 1000)
    }
}

/// Why a ShardManager could not do what was asked.
public enum ShardManagerError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The shard set is empty, has duplicates, or ids outside `0..<count`.
    case invalidShardSet(ids: [Int], count: Int)
    /// More shards need a new session than the daily session start limit allows at all.
    case sessionStartLimitTooLow(needed: Int, total: Int)
    /// The guild's shard runs in another process.
    case shardNotInThisProcess(Int)
    /// The shard count is not known yet (``ShardManager/run()`` has not discovered it).
    case notStarted
    /// The guild's shard runs in this process but has not started yet (it waits for its turn).
    case shardNotStarted(Int)
    /// `GET /gateway/bot` recommended more shards than ``ShardManager/Configuration/shardCountLimit``.
    case shardCountAboveLimit(count: Int, limit: Int)
    /// `GET /gateway/bot` answered a `url` that is not a usable `ws://` or `wss://` URL (escaped).
    case invalidGatewayURL(String)

    public var description: String {
        switch self {
        case .invalidShardSet(let ids, let count): "invalid shard set \(ids) for \(count) shards"
        case .sessionStartLimitTooLow(let needed, let total):
            "\(needed) shards need a new session but the session start limit is \(total)"
        case .shardNotInThisProcess(let id): "shard \(id) does not run in this process"
        case .notStarted: "the manager has not started"
        case .shardNotStarted(let id): "shard \(id) has not started yet"
        case .shardCountAboveLimit(let count, let limit):
            "GET /gateway/bot recommends \(count) shards, more than the limit of \(limit); "
                + "raise ShardManager.Configuration.shardCountLimit (echord listen --max-shards) if the bot really needs them"
        case .invalidGatewayURL(let url): "GET /gateway/bot answered an unusable gateway URL: \(url)"
        }
    }
}

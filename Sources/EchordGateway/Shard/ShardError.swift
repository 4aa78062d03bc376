import EchordModels

/// Why a shard stopped for good.
public enum ShardError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The gateway closed with a code after which reconnecting cannot help (4004, 4010–4014).
    case fatalClose(GatewayCloseCode)
    /// The configuration cannot work (explained).
    case invalidConfiguration(String)

    public var description: String {
        switch self {
        case .fatalClose(let code): "gateway closed with \(code.rawValue) (\(code.name)): \(code.explanation)"
        case .invalidConfiguration(let what): "invalid configuration: \(what)"
        }
    }
}

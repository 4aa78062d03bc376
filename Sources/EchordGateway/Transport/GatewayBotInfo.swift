/// What `GET /gateway/bot` answers: where to connect, how many shards Discord recommends and how
/// many session starts remain.
public struct GatewayBotInfo: Sendable, Equatable, Decodable {
    /// The WSS URL to open (`url`).
    public var url: String
    /// The number of shards Discord recommends (`shards`).
    public var shards: Int
    /// The IDENTIFY budget (`session_start_limit`).
    public var sessionStartLimit: SessionStartLimit

    /// Makes an answer from its parts.
    public init(url: String, shards: Int, sessionStartLimit: SessionStartLimit) {
        self.url = url
        self.shards = shards
        self.sessionStartLimit = sessionStartLimit
    }

    enum CodingKeys: String, CodingKey {
        case url, shards, sessionStartLimit = "session_start_limit"
    }
}

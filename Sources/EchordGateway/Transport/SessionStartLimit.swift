/// `session_start_limit` of `GET /gateway/bot`: how many sessions may still be started.
public struct SessionStartLimit: Sendable, Equatable, Decodable {
    /// Session starts allowed per window (`total`, normally 1000).
    public var total: Int
    /// Session starts left in the current window (`remaining`).
    public var remaining: Int
    /// Time until the window resets (`reset_after`, sent in milliseconds).
    public var resetAfter: Duration
    /// How many IDENTIFYs may start per 5-second slot (`max_concurrency`).
    public var maxConcurrency: Int

    /// Makes a limit from its parts.
    public init(total: Int, remaining: Int, resetAfter: Duration, maxConcurrency: Int) {
        self.total = total
        self.remaining = remaining
        self.resetAfter = resetAfter
        self.maxConcurrency = maxConcurrency
    }

    enum CodingKeys: String, CodingKey {
        case total, remaining, resetAfter = "reset_after", maxConcurrency = "max_concurrency"
    }

    /// Decodes the JSON object, reading `reset_after` as milliseconds.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        total = try container.decode(Int.self, forKey: .total)
        remaining = try container.decode(Int.self, forKey: .remaining)
        resetAfter = .milliseconds(try container.decode(Int64.self, forKey: .resetAfter))
        maxConcurrency = try container.decode(Int.self, forKey: .maxConcurrency)
    }
}

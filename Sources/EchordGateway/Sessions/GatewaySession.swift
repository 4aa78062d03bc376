/// What a shard needs to resume a session: readable, and restorable so that a new process can
/// resume instead of identifying.
public struct GatewaySession: Sendable, Codable, Equatable, Hashable {
    /// `session_id` from READY.
    public var sessionID: String
    /// The last sequence number received.
    public var sequence: Int
    /// `resume_gateway_url` from READY.
    public var resumeGatewayURL: String

    /// A session, for example one read back from your own storage.
    public init(sessionID: String, sequence: Int, resumeGatewayURL: String) {
        self.sessionID = sessionID
        self.sequence = sequence
        self.resumeGatewayURL = resumeGatewayURL
    }

    enum CodingKeys: String, CodingKey {
        case sessionID = "session_id", sequence = "seq", resumeGatewayURL = "resume_gateway_url"
    }
}

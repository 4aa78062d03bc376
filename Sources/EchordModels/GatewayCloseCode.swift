/// A WebSocket close code seen on the Discord Gateway (spec §3): one of Discord's 4000-4014 codes,
/// a standard WebSocket code such as 1000/1001/1006, or anything else a peer sends.
///
/// A raw-value struct, so unknown codes are kept and still classified by ``recovery``.
public struct GatewayCloseCode: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    /// The close code number as carried in the WebSocket close frame.
    public var rawValue: UInt16

    /// Wraps any close code number.
    public init(rawValue: UInt16) {
        self.rawValue = rawValue
    }

    /// 1000: a normal WebSocket closure. Sent by the client, it ends the session.
    public static let normalClosure = GatewayCloseCode(rawValue: 1000)
    /// 1001: the endpoint is going away. Sent by the client, it ends the session.
    public static let goingAway = GatewayCloseCode(rawValue: 1001)
    /// 4000: an unspecified server-side problem.
    public static let unknownError = GatewayCloseCode(rawValue: 4000)
    /// 4001: the client sent an invalid opcode or an invalid payload for an opcode.
    public static let unknownOpcode = GatewayCloseCode(rawValue: 4001)
    /// 4002: the client sent a payload the server could not decode.
    public static let decodeError = GatewayCloseCode(rawValue: 4002)
    /// 4003: the client sent a payload before identifying, or the session was invalidated.
    public static let notAuthenticated = GatewayCloseCode(rawValue: 4003)
    /// 4004: the token in Identify was wrong.
    public static let authenticationFailed = GatewayCloseCode(rawValue: 4004)
    /// 4005: the client sent more than one Identify on a connection.
    public static let alreadyAuthenticated = GatewayCloseCode(rawValue: 4005)
    /// 4007: the sequence number in Resume was invalid.
    public static let invalidSequence = GatewayCloseCode(rawValue: 4007)
    /// 4008: the client exceeded the send rate limit.
    public static let rateLimited = GatewayCloseCode(rawValue: 4008)
    /// 4009: the session timed out.
    public static let sessionTimedOut = GatewayCloseCode(rawValue: 4009)
    /// 4010: the `shard` array in Identify was invalid.
    public static let invalidShard = GatewayCloseCode(rawValue: 4010)
    /// 4011: the session would hold too many guilds; the bot must shard.
    public static let shardingRequired = GatewayCloseCode(rawValue: 4011)
    /// 4012: the `v` query parameter named an invalid API version.
    public static let invalidAPIVersion = GatewayCloseCode(rawValue: 4012)
    /// 4013: the intents value was not a valid bitfield.
    public static let invalidIntents = GatewayCloseCode(rawValue: 4013)
    /// 4014: the client asked for a privileged intent that is not enabled or approved.
    public static let disallowedIntents = GatewayCloseCode(rawValue: 4014)

    /// What a client should do after the connection was closed with a given code.
    public enum Recovery: Sendable {
        /// Reconnect (to `resume_gateway_url`) and send Resume; the session is still usable.
        case resume
        /// Reconnect to the regular gateway URL and Identify from scratch (new session, sequence reset).
        case newSession
        /// Do not reconnect; the problem needs a human (token, shards, API version, intents).
        case fatal
    }

    /// The recovery a client should attempt when the **server** closes with this code, following
    /// the "[SIM]/practice" split of spec §3:
    ///
    /// - ``Recovery/fatal``: 4004, 4010, 4011, 4012, 4013, 4014.
    /// - ``Recovery/newSession``: 4003, 4007, 4009, and every other (undocumented) 4xxx code such as 4006.
    /// - ``Recovery/resume``: 4000, 4001, 4002, 4005, 4008, and every code outside 4000-4999,
    ///   including 1006 (abnormal closure, no close frame).
    ///
    /// 1000 and 1001 also map to ``Recovery/resume``: they only end the session when the *client*
    /// sends them (see ``endsSessionWhenSentByClient``). When the server sends them it is typically
    /// restarting or draining, the session still exists server-side, and a failed Resume is cheaply
    /// answered with Invalid Session (op 9), after which the client identifies anyway.
    public var recovery: Recovery {
        switch rawValue {
        case 4004, 4010, 4011, 4012, 4013, 4014:
            return .fatal
        case 4000, 4001, 4002, 4005, 4008:
            return .resume
        case 4000...4999:
            return .newSession
        default:
            return .resume
        }
    }

    /// Whether this code ends the session when the client closes with it (true for 1000 and 1001).
    ///
    /// Close with any other code (4000 is customary) when you intend to resume afterwards.
    public var endsSessionWhenSentByClient: Bool {
        rawValue == 1000 || rawValue == 1001
    }

    /// A short name, such as `"Authentication failed"`, or `"Unknown close code"` for other codes.
    public var name: String {
        switch rawValue {
        case 1000: "Normal closure"
        case 1001: "Going away"
        case 1006: "Abnormal closure"
        case 4000: "Unknown error"
        case 4001: "Unknown opcode"
        case 4002: "Decode error"
        case 4003: "Not authenticated"
        case 4004: "Authentication failed"
        case 4005: "Already authenticated"
        case 4007: "Invalid seq"
        case 4008: "Rate limited"
        case 4009: "Session timed out"
        case 4010: "Invalid shard"
        case 4011: "Sharding required"
        case 4012: "Invalid API version"
        case 4013: "Invalid intent(s)"
        case 4014: "Disallowed intent(s)"
        default: "Unknown close code"
        }
    }

    /// One sentence on what causes this close code.
    public var explanation: String {
        switch rawValue {
        case 1000: "The connection was closed normally; from a client this ends the session."
        case 1001: "The endpoint is going away; from a client this ends the session."
        case 1006: "The connection dropped without a close frame; the session can be resumed."
        case 4000: "The gateway hit an unspecified problem; reconnect and resume."
        case 4001: "The client sent an invalid opcode or an invalid payload for an opcode."
        case 4002: "The client sent a payload the gateway could not decode (bad JSON/ETF or over 4096 bytes)."
        case 4003: "The client sent a payload before identifying, or its session was invalidated."
        case 4004: "The token sent with Identify is invalid."
        case 4005: "The client sent more than one Identify on the same connection."
        case 4007: "The sequence number sent with Resume is invalid."
        case 4008: "The client sent payloads faster than the gateway allows (120 per 60 seconds)."
        case 4009: "The session timed out and cannot be resumed."
        case 4010: "The shard array sent with Identify is invalid."
        case 4011: "The session would handle too many guilds; the bot must use more shards."
        case 4012: "The gateway URL asked for an invalid API version."
        case 4013: "The intents sent with Identify are not a valid bitfield."
        case 4014: "The client asked for a privileged intent that is not enabled or approved for the app."
        default: "The connection was closed with a code Discord does not document for the gateway."
        }
    }

    /// The number and name, for example `"4004 (Authentication failed)"`.
    public var description: String { "\(rawValue) (\(name))" }
}

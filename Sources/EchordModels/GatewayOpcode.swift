/// A Discord Gateway opcode: the `op` field of every gateway frame (API v10, spec §2).
///
/// Modelled as a raw-value struct rather than an enum, so an opcode Discord adds later (or one a
/// misbehaving peer sends) still decodes and can be reported instead of failing the whole frame.
public struct GatewayOpcode: RawRepresentable, Hashable, Sendable, Codable, CustomStringConvertible {
    /// The opcode number as it appears on the wire.
    public var rawValue: Int

    /// Wraps any opcode number, documented or not.
    public init(rawValue: Int) {
        self.rawValue = rawValue
    }

    /// Op 0 (receive): an event dispatch; the frame's `t` names the event and `s` is its sequence number.
    public static let dispatch = GatewayOpcode(rawValue: 0)
    /// Op 1 (send and receive): a keep-alive carrying the last sequence number; sent by the server
    /// it asks the client to heartbeat immediately.
    public static let heartbeat = GatewayOpcode(rawValue: 1)
    /// Op 2 (send): starts a new session.
    public static let identify = GatewayOpcode(rawValue: 2)
    /// Op 3 (send): updates the bot's presence.
    public static let presenceUpdate = GatewayOpcode(rawValue: 3)
    /// Op 4 (send): joins, moves between or leaves voice channels.
    public static let voiceStateUpdate = GatewayOpcode(rawValue: 4)
    /// Op 6 (send): resumes a dropped session.
    public static let resume = GatewayOpcode(rawValue: 6)
    /// Op 7 (receive): the server asks the client to reconnect and resume.
    public static let reconnect = GatewayOpcode(rawValue: 7)
    /// Op 8 (send): requests guild members (answered with `GUILD_MEMBERS_CHUNK` dispatches).
    public static let requestGuildMembers = GatewayOpcode(rawValue: 8)
    /// Op 9 (receive): the session is invalid; `d` says whether it may be resumed.
    public static let invalidSession = GatewayOpcode(rawValue: 9)
    /// Op 10 (receive): the first frame on a connection, carrying the heartbeat interval.
    public static let hello = GatewayOpcode(rawValue: 10)
    /// Op 11 (receive): acknowledges a heartbeat.
    public static let heartbeatAck = GatewayOpcode(rawValue: 11)
    /// Op 31 (send): requests the soundboard sounds of guilds (answered with `SOUNDBOARD_SOUNDS`).
    public static let requestSoundboardSounds = GatewayOpcode(rawValue: 31)
    /// Op 43 (send): requests ephemeral channel data (answered with `CHANNEL_INFO`).
    public static let requestChannelInfo = GatewayOpcode(rawValue: 43)

    /// Every opcode a client may send: 1, 2, 3, 4, 6, 8, 31 and 43.
    ///
    /// A server (or simulator) can treat any other opcode from a client as an error (close 4001).
    public static let clientOpcodes: Set<GatewayOpcode> = [
        .heartbeat, .identify, .presenceUpdate, .voiceStateUpdate, .resume,
        .requestGuildMembers, .requestSoundboardSounds, .requestChannelInfo,
    ]

    /// Every opcode the server sends: 0, 1, 7, 9, 10 and 11.
    static let serverOpcodes: Set<GatewayOpcode> = [
        .dispatch, .heartbeat, .reconnect, .invalidSession, .hello, .heartbeatAck,
    ]

    /// Discord's name for a documented opcode (for example `"Heartbeat ACK"`), or nil for an
    /// undocumented one.
    public var name: String? {
        switch rawValue {
        case 0: "Dispatch"
        case 1: "Heartbeat"
        case 2: "Identify"
        case 3: "Presence Update"
        case 4: "Voice State Update"
        case 6: "Resume"
        case 7: "Reconnect"
        case 8: "Request Guild Members"
        case 9: "Invalid Session"
        case 10: "Hello"
        case 11: "Heartbeat ACK"
        case 31: "Request Soundboard Sounds"
        case 43: "Request Channel Info"
        default: nil
        }
    }

    /// Whether a client may send this opcode (1, 2, 3, 4, 6, 8, 31, 43).
    public var isSentByClient: Bool { Self.clientOpcodes.contains(self) }

    /// Whether the server sends this opcode (0, 1, 7, 9, 10, 11).
    public var isSentByServer: Bool { Self.serverOpcodes.contains(self) }

    /// The name and number, for example `"Hello (10)"`, or `"Unknown (5)"` for an undocumented opcode.
    public var description: String { "\(name ?? "Unknown") (\(rawValue))" }
}

import Foundation

/// The payload of GUILD_CREATE: a whole guild, or, during an outage, only its ID with
/// `unavailable: true`.
public enum GuildCreateEvent: Sendable, Hashable, Codable, JSONReadable {
    /// The guild with everything GUILD_CREATE carries.
    case available(GuildCreate)
    /// The guild is unavailable (an outage); it arrives again as GUILD_CREATE when it recovers.
    case unavailable(UnavailableGuild)

    /// The guild ID.
    public var id: Snowflake {
        switch self {
        case .available(let guild): guild.id
        case .unavailable(let guild): guild.id
        }
    }

    /// The guild, when available.
    public var guild: GuildCreate? {
        guard case .available(let guild) = self else { return nil }
        return guild
    }

    /// Decodes a whole guild, or an unavailable guild when the object is `{id, unavailable: true}`.
    public init(from decoder: any Decoder) throws {
        do {
            self = .available(try GuildCreate(from: decoder))
        } catch {
            guard let unavailable = try? UnavailableGuild(from: decoder), unavailable.unavailable == true else { throw error }
            self = .unavailable(unavailable)
        }
    }

    /// Encodes the guild or the unavailable guild.
    public func encode(to encoder: any Encoder) throws {
        switch self {
        case .available(let guild): try guild.encode(to: encoder)
        case .unavailable(let guild): try guild.encode(to: encoder)
        }
    }

    /// Reads a whole guild, or an unavailable guild when the object is `{id, unavailable: true}`.
    public init(from reader: inout JSONReader) throws {
        var retry = reader
        do {
            self = .available(try GuildCreate(from: &reader))
        } catch {
            guard let unavailable = try? UnavailableGuild(from: &retry), unavailable.unavailable == true else { throw error }
            reader = retry
            self = .unavailable(unavailable)
        }
    }
}

/// A dispatch whose payload could not be decoded: its name, the error and the raw bytes of `d`.
public struct GatewayEventDecodingFailure: Error, Sendable, Hashable, CustomStringConvertible {
    /// The dispatch name.
    public var name: String
    /// Why decoding failed (a ``JSONDecodingError`` on the fast path).
    public var error: any Error & Sendable
    /// The raw JSON of `d`.
    public var data: [UInt8]

    /// Creates a failure.
    public init(name: String, error: any Error & Sendable, data: [UInt8]) {
        self.name = name
        self.error = error
        self.data = data
    }

    /// Failures are equal when name, data and the error's description are.
    public static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.name == rhs.name && lhs.data == rhs.data && "\(lhs.error)" == "\(rhs.error)"
    }

    /// Hashes name and data.
    public func hash(into hasher: inout Hasher) {
        hasher.combine(name)
        hasher.combine(data)
    }

    /// The name and the error.
    public var description: String { "\(name) could not be decoded: \(error)" }
}

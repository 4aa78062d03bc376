import Foundation

/// A bot token: the secret sent in Identify and Resume.
///
/// Its `description`, `debugDescription`, `String(describing:)`, string interpolation and `dump`
/// output never show the secret (they print `BotToken(<redacted>)`); read ``rawValue`` deliberately
/// when the token must go on the wire. Codable as a plain JSON string.
public struct BotToken: Sendable, Hashable, Codable, CustomStringConvertible, CustomDebugStringConvertible,
    CustomReflectable
{
    /// The secret token text. This is the **only** way to read the secret; use it solely to send
    /// the token to Discord, never to log it.
    public var rawValue: String

    /// Wraps a raw token (without the HTTP `Bot ` prefix).
    public init(_ raw: String) {
        self.rawValue = raw
    }

    /// Decodes the token from a JSON string.
    public init(from decoder: any Decoder) throws {
        self.rawValue = try decoder.singleValueContainer().decode(String.self)
    }

    /// Encodes the token as a JSON string.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }

    /// Always `"BotToken(<redacted>)"`.
    public var description: String { "BotToken(<redacted>)" }

    /// Always `"BotToken(<redacted>)"`.
    public var debugDescription: String { "BotToken(<redacted>)" }

    /// A mirror without children, so `dump` and reflection cannot reveal the secret.
    public var customMirror: Mirror { Mirror(self, children: [], displayStyle: .struct) }

    /// The bot's user ID, decoded from the token's first dot-separated segment (the base64 of the
    /// decimal user id, with or without `=` padding, standard or URL-safe alphabet); nil when the
    /// token does not have that form.
    public var botUserID: Snowflake? {
        guard let first = rawValue.split(separator: ".", omittingEmptySubsequences: false).first,
            !first.isEmpty
        else { return nil }
        var base64 = first.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while base64.count % 4 != 0 { base64.append("=") }
        guard let data = Foundation.Data(base64Encoded: base64),
            let decimal = String(data: data, encoding: .utf8),
            !decimal.isEmpty, decimal.allSatisfy({ $0.isASCII && $0.isNumber })
        else { return nil }
        return Snowflake(decimal)
    }

    /// Whether the token looks like a bot token: three non-empty dot-separated segments whose first
    /// decodes to a user ID (``botUserID`` is non-nil). This checks the form only, not validity.
    public var isWellFormed: Bool {
        let parts = rawValue.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 3 && parts.allSatisfy { !$0.isEmpty } && botUserID != nil
    }

    /// Returns `text` with every occurrence of `token` replaced by `"<redacted>"`.
    ///
    /// An empty `token` leaves `text` unchanged.
    public static func redacting(_ token: String, in text: String) -> String {
        guard !token.isEmpty else { return text }
        return text.replacingOccurrences(of: token, with: "<redacted>")
    }
}

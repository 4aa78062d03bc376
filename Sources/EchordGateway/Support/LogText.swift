extension String {
    /// The text made safe for one log line: control characters (newlines, tabs, escape…) and
    /// backslashes are written as Swift escapes, and the text is cut to `limit` characters. For
    /// anything a remote peer chose (URLs, messages, ids) before it goes into log metadata or an
    /// error description.
    func escapedForLog(limit: Int = 512) -> String {
        var out = ""
        var count = 0
        for scalar in unicodeScalars {
            if count >= limit {
                out += "…"
                break
            }
            count += 1
            switch scalar {
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\\": out += "\\\\"
            default:
                let value = scalar.value
                // C0 and C1 controls, DEL, and the Unicode line and paragraph separators.
                if value < 0x20 || (0x7F...0x9F).contains(value) || value == 0x2028 || value == 0x2029 {
                    out += "\\u{" + String(value, radix: 16) + "}"
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out
    }

    /// Whether the text has a character that has no place in a URL (controls, whitespace).
    var hasControlOrWhitespace: Bool {
        unicodeScalars.contains { $0.value <= 0x20 || (0x7F...0x9F).contains($0.value) || $0.properties.isWhitespace }
    }
}

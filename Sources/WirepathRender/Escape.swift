import Plot

/// HTML escaping for every value the report prints.
///
/// Plot escapes text nodes only partly (it keeps anything that looks like an
/// entity, so a reason string containing `&lt;` would print as `<`) and writes
/// attribute values as they are, so the report escapes every value itself and
/// hands Plot the escaped form as raw text.
enum HTMLEscape {
    /// Text content: `&`, `<` and `>` (quotes are harmless there but escaped
    /// too, so one function serves attributes as well).
    static func text(_ s: String) -> String {
        var out = ""
        out.reserveCapacity(s.utf8.count)
        for c in s.unicodeScalars {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default:
                // Control characters other than tab and newline have no
                // business in a report; show them as U+FFFD.
                if c.value < 0x20 && c != "\t" && c != "\n" { out += "\u{FFFD}" } else { out.unicodeScalars.append(c) }
            }
        }
        return out
    }

    static func attribute(_ s: String) -> String { text(s) }
}

extension Node {
    /// Escaped text content.
    static func esc(_ s: String) -> Node { .raw(HTMLEscape.text(s)) }

    /// An attribute whose value is escaped.
    static func attr(_ name: String, _ value: String) -> Node {
        .attribute(named: name, value: HTMLEscape.attribute(value), ignoreIfValueIsEmpty: false)
    }
}

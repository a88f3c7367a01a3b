/// Why a message was not delivered, in words an operator may read and keep.
public enum MailFailure {
    /// `reason` with every run of 20 or more token-like characters (letters, digits, `-`,
    /// `_`, `.`, `=`, `+`, `/`) replaced by `[redacted]`: a server that quotes a message back
    /// must not put a reset or verification token into a log, a metric or a failed-mail note.
    public static func redacted(_ reason: String) -> String {
        var out = ""
        var run = ""
        func flush() {
            out += run.count >= 20 ? "[redacted]" : run
            run = ""
        }
        for character in reason {
            if character.isASCII, character.isLetter || character.isNumber || "-_.=+/".contains(character) {
                run.append(character)
            } else {
                flush()
                out.append(character.isNewline ? " " : character)  // "\r\n" is one Character
            }
        }
        flush()
        return String(out.prefix(300))
    }
}

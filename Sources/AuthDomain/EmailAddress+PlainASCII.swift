extension EmailAddress {
    /// Whether `raw` is a valid address made only of printable ASCII without upper case
    /// letters or white space. Such input is its own trimmed, NFC and lower-cased form, so it
    /// can skip Foundation; this checks the same rules as the full path, on bytes. Anything it
    /// does not accept goes through the full path, which decides (and names the reason).
    static func isPlainValidAddress(_ raw: String) -> Bool {
        raw.utf8.withContiguousStorageIfAvailable(isPlainValidAddress) ?? false
    }

    static func isPlainValidAddress(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        guard !bytes.isEmpty, bytes.count <= 254 else { return false }
        var at: Int?
        for (index, byte) in bytes.enumerated() {
            // Printable ASCII only (no space, no controls, no DEL), and no upper case.
            guard byte > 0x20, byte < 0x7F, byte &- 0x41 >= 26 else { return false }
            if byte == 0x40 {
                guard at == nil else { return false }
                at = index
            }
        }
        guard let at else { return false }
        return isPlainLocalPart(UnsafeBufferPointer(rebasing: bytes[..<at]))
            && isPlainDomain(UnsafeBufferPointer(rebasing: bytes[(at + 1)...]))
    }

    /// 1 to 64 bytes, no leading, trailing or doubled dot, nothing that needs quoting.
    private static func isPlainLocalPart(_ local: UnsafeBufferPointer<UInt8>) -> Bool {
        guard !local.isEmpty, local.count <= 64, local.first != 0x2E, local.last != 0x2E else { return false }
        var previous: UInt8 = 0
        for byte in local {
            if byte == 0x2E && previous == 0x2E { return false }
            if needsQuoting(byte) { return false }
            previous = byte
        }
        return true
    }

    /// The characters `"(),:;<>[\]`, which the full path rejects before the @.
    private static func needsQuoting(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "\""), UInt8(ascii: "("), UInt8(ascii: ")"), UInt8(ascii: ","), UInt8(ascii: ":"),
            UInt8(ascii: ";"), UInt8(ascii: "<"), UInt8(ascii: ">"), UInt8(ascii: "["), UInt8(ascii: "\\"),
            UInt8(ascii: "]"):
            return true
        default:
            return false
        }
    }

    /// At least two dot-separated labels of 1 to 63 lower-case letters, digits and hyphens,
    /// none starting or ending with a hyphen; the last one holds a letter.
    private static func isPlainDomain(_ domain: UnsafeBufferPointer<UInt8>) -> Bool {
        var labels = 0
        var start = 0
        var lastHasLetter = false
        for end in 0...domain.count where end == domain.count || domain[end] == 0x2E {
            let label = UnsafeBufferPointer(rebasing: domain[start..<end])
            guard !label.isEmpty, label.count <= 63, label.first != 0x2D, label.last != 0x2D else { return false }
            lastHasLetter = false
            for byte in label {
                let isLetter = byte &- 0x61 < 26
                guard isLetter || byte &- 0x30 < 10 || byte == 0x2D else { return false }
                lastHasLetter = lastHasLetter || isLetter
            }
            labels += 1
            start = end + 1
        }
        return labels >= 2 && lastHasLetter
    }
}

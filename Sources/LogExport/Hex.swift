import EventLog

/// Lower-case hex digits, two a byte (``Hex/encode(_:)``).
public func hex(_ bytes: [UInt8]) -> String { Hex.encode(bytes) }

/// The bytes of hex digits, two a byte, either case; `nil` for anything else (a sign, a
/// space, an odd count), so one text stands for one byte string and back.
public func unhex(_ text: String) -> [UInt8]? {
    func nibble(_ digit: UInt8) -> UInt8? {
        switch digit {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return digit - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return digit - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return digit - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
    let chars = Array(text.utf8)
    guard chars.count % 2 == 0 else { return nil }
    var bytes = [UInt8]()
    bytes.reserveCapacity(chars.count / 2)
    for index in stride(from: 0, to: chars.count, by: 2) {
        guard let high = nibble(chars[index]), let low = nibble(chars[index + 1]) else { return nil }
        bytes.append(high << 4 | low)
    }
    return bytes
}

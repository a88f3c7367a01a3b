import EventLog
import Foundation

extension FeedEvent {
    /// The event as the feed's JSON object on one line: what `/v1/events`, its stream and
    /// webhooks send. See ``writeJSON(to:)``.
    public func jsonBytes() -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(464)
        writeJSON(to: &bytes)
        return bytes
    }

    /// Appends the event's JSON object to `bytes`, written by hand (a general JSON serializer
    /// cost nine tenths of a feed read).
    ///
    /// Rules:
    /// - Keys in byte order, at every level: `actor`, `chain_hash` (only when known: 64 hex
    ///   digits), `correlation_id`, `data` (the public fields), `personal` (only when present),
    ///   `position`, `recorded_at`, `stream`, `stream_version`, `type`.
    /// - Strings are escaped as ``JSONString`` escapes them; integers are plain; a missing
    ///   value is `null`. The output parses to the same object as the general serializer's
    ///   (`FeedEventJSONTests` pins it).
    public func writeJSON(to bytes: inout [UInt8]) {
        func key(_ name: StaticString, first: Bool = false) {
            if !first { bytes.append(UInt8(ascii: ",")) }
            bytes.append(UInt8(ascii: "\""))
            name.withUTF8Buffer { bytes.append(contentsOf: $0) }
            bytes.append(contentsOf: [UInt8(ascii: "\""), UInt8(ascii: ":")])
        }
        bytes.append(UInt8(ascii: "{"))
        key("actor", first: true)
        JSONString.append(quoting: actor, to: &bytes)
        if let chainHash {
            key("chain_hash")
            bytes.append(UInt8(ascii: "\""))
            for byte in chainHash.bytes {
                bytes.append(Hex.digits[Int(byte >> 4)])
                bytes.append(Hex.digits[Int(byte & 0x0f)])
            }
            bytes.append(UInt8(ascii: "\""))
        }
        key("correlation_id")
        JSONString.append(quoting: correlationID, to: &bytes)
        key("data")
        Self.writeObject(fields, to: &bytes)
        if let personal {
            key("personal")
            Self.writeObject(personal, to: &bytes)
        }
        key("position")
        bytes.append(contentsOf: String(position).utf8)
        key("recorded_at")
        bytes.append(UInt8(ascii: "\""))
        recordedAt.writeRFC3339(to: &bytes)
        bytes.append(UInt8(ascii: "\""))
        key("stream")
        JSONString.append(quoting: stream.lowercasedText, to: &bytes)
        key("stream_version")
        bytes.append(contentsOf: String(streamVersion).utf8)
        key("type")
        JSONString.append(quoting: type, to: &bytes)
        bytes.append(UInt8(ascii: "}"))
    }

    static func writeObject(_ fields: [String: FeedValue], to bytes: inout [UInt8]) {
        bytes.append(UInt8(ascii: "{"))
        for (index, name) in fields.keys.sorted(by: { $0.utf8.lexicographicallyPrecedes($1.utf8) }).enumerated() {
            if index > 0 { bytes.append(UInt8(ascii: ",")) }
            JSONString.append(quoting: name, to: &bytes)
            bytes.append(UInt8(ascii: ":"))
            switch fields[name]! {
            case .string(let text): JSONString.append(quoting: text, to: &bytes)
            case .integer(let number): bytes.append(contentsOf: String(number).utf8)
            case .null: bytes.append(contentsOf: "null".utf8)
            }
        }
        bytes.append(UInt8(ascii: "}"))
    }
}

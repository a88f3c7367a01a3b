import Foundation

extension FeedEvent {
    /// The event as the feed's JSON object on one line (keys sorted): position, stream,
    /// stream_version, type, recorded_at, actor, correlation_id, data (public fields), and
    /// personal when present. What `/v1/events`, its stream and webhooks send.
    public func jsonBytes() throws -> [UInt8] {
        func object(_ fields: [String: FeedValue]) -> [String: Any] {
            fields.mapValues { value -> Any in
                switch value {
                case .string(let text): return text
                case .integer(let number): return number
                case .null: return NSNull()
                }
            }
        }
        var json: [String: Any] = [
            "position": position, "stream": stream.uuidString.lowercased(), "stream_version": streamVersion,
            "type": type, "recorded_at": recordedAt.description, "actor": actor, "correlation_id": correlationID,
            "data": object(fields),
        ]
        if let personal { json["personal"] = object(personal) }
        return Array(try JSONSerialization.data(withJSONObject: json, options: [.sortedKeys, .withoutEscapingSlashes]))
    }
}

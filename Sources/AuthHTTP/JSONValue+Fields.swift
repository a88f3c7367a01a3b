import RequestJSON

/// The fields of a request body read by ``StrictJSON``, each refused as 400 by name.
extension Dictionary where Key == String, Value == JSONValue {
    /// A required string field.
    func string(_ key: String) throws -> String {
        guard let value = self[key] else { throw Problem.badRequest("missing field '\(key)'") }
        guard case .string(let text) = value else { throw Problem.badRequest("field '\(key)' must be a string") }
        return text
    }

    /// An optional string field (absent or null: nil).
    func optionalString(_ key: String) throws -> String? {
        switch self[key] {
        case nil, .null?: return nil
        case .string(let text)?: return text
        default: throw Problem.badRequest("field '\(key)' must be a string or null")
        }
    }
}

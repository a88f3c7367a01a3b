import Foundation
import RequestJSON

/// Request bodies (``StrictJSON``), with the fields the routes allow plus two short ones.
///
/// Properties: what StrictJSON accepts is JSON (Foundation's parser reads it too) with the
/// same fields and the same strings, booleans and nulls; a field read as a number is a number.
enum FuzzStrictJSON {
    static let allowed: Set<String> = [
        "a", "b", "email", "password", "first_name", "last_name", "phone", "role", "token", "refresh_token",
    ]

    static func run(_ input: UnsafeRawBufferPointer) {
        let bytes = [UInt8](input)
        guard let object = try? StrictJSON.object(bytes, allowed: allowed) else { return }
        guard let other = try? JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any] else {
            fatalError("property violated: StrictJSON accepted what is not a JSON object: \(bytes)")
        }
        require(Set(other.keys) == Set(object.keys), "fields \(object.keys) where JSON has \(other.keys)")
        for (key, value) in object {
            let theirs = other[key]
            switch value {
            case .string(let text): require(theirs as? String == text, "\(key): \(text) where JSON has \(theirs!)")
            case .bool(let flag): require(theirs as? Bool == flag, "\(key): \(flag) where JSON has \(theirs!)")
            case .null: require(theirs is NSNull, "\(key): null where JSON has \(theirs!)")
            case .number: require(theirs is NSNumber, "\(key): a number where JSON has \(theirs!)")
            case .nested:
                require(theirs is [Any] || theirs is [String: Any], "\(key): nested where JSON has \(theirs!)")
            }
        }
    }
}

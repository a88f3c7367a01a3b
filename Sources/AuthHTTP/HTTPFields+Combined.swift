import HTTPTypes

extension HTTPFields {
    /// What `self[name]` answers (every value of the field, joined as HTTPTypes joins them),
    /// without gathering the values into an array when the field comes once or not at all:
    /// the common case of a request's `Content-Type` and `Content-Length`.
    func combined(_ name: HTTPField.Name) -> String? {
        var found: String?
        for field in self where field.name == name {
            if found != nil { return self[name] }
            found = field.value
        }
        return found
    }
}

extension [String: String] {
    /// An environment variable's value; nil when it is unset or empty. authd's options whose
    /// value may be absent take no default (the argument parser deprecates a default on an
    /// optional option): each reads its variable through this when it is not given.
    func value(of name: String) -> String? {
        guard let value = self[name], !value.isEmpty else { return nil }
        return value
    }
}

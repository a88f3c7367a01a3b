import Foundation

extension [String: String] {
    /// An environment variable's value; nil when it is unset or empty. authd's options whose
    /// value may be absent take no default (the argument parser deprecates a default on an
    /// optional option): each reads its variable through this when it is not given.
    func value(of name: String) -> String? {
        guard let value = self[name], !value.isEmpty else { return nil }
        return value
    }
}

/// Whether `path` names a directory (a template directory must: a mistyped one would
/// otherwise leave every template built in, unnoticed).
func isDirectory(_ path: String) -> Bool {
    var isDirectory: ObjCBool = false
    return FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && isDirectory.boolValue
}

import Foundation

/// Every regular file under `directory` (recursively) whose bytes contain `needle`: the
/// erasure tests' proof that nothing of an erased user is left at rest.
public func filesContaining(_ needle: [UInt8], under directory: String) -> [String] {
    precondition(!needle.isEmpty)
    var found: [String] = []
    let enumerator = FileManager.default.enumerator(atPath: directory)
    while let name = enumerator?.nextObject() as? String {
        let path = directory + "/" + name
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue,
            let data = FileManager.default.contents(atPath: path)
        else { continue }
        if data.range(of: Data(needle)) != nil { found.append(name) }
    }
    return found
}

/// The bytes of a hex string (two digits a byte).
public func bytes(fromHex text: some StringProtocol) -> [UInt8] {
    let digits = Array(text.utf8)
    return stride(from: 0, to: digits.count - 1, by: 2).map {
        UInt8(String(decoding: digits[$0..<$0 + 2], as: UTF8.self), radix: 16) ?? 0
    }
}

/// The file's permission bits (`st_mode & 0o777`), or `nil` if it does not exist.
public func permissions(of path: String) -> Int? {
    var info = stat()
    guard lstat(path, &info) == 0 else { return nil }
    return Int(info.st_mode & 0o777)
}

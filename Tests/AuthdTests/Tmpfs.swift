import Foundation
import Testing

/// A small tmpfs that a test mounts (as root, see ``DiskFullTests/canMount``) and always
/// unmounts: a disk that really fills up. `fill(leaving:)` takes all but some free space with
/// a filler file; `free()` removes it.
final class Tmpfs {
    let path: String

    /// Mounts a tmpfs of `megabytes` on a fresh directory, or records an issue and returns nil.
    init?(megabytes: Int) {
        path = NSTemporaryDirectory() + "authd-tmpfs-" + UUID().uuidString
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        guard DiskFullTests.run("/bin/mount", ["-t", "tmpfs", "-o", "size=\(megabytes)m", "tmpfs", path]) == 0 else {
            Issue.record("cannot mount a tmpfs on \(path)")
            try? FileManager.default.removeItem(atPath: path)
            return nil
        }
    }

    deinit {
        DiskFullTests.run("/bin/umount", ["-l", path])
        try? FileManager.default.removeItem(atPath: path)
    }

    func at(_ name: String) -> String { path + "/" + name }

    var freeBytes: Int {
        let attributes = try? FileManager.default.attributesOfFileSystem(forPath: path)
        return (attributes?[.systemFreeSize] as? NSNumber)?.intValue ?? 0
    }

    /// Writes a filler file so that about `bytes` stay free (none: the disk is full).
    func fill(leaving bytes: Int = 0) {
        let handle = FileManager.default.createFile(atPath: at("filler"), contents: nil)
        #expect(handle)
        guard let file = FileHandle(forWritingAtPath: at("filler")) else { return }
        defer { try? file.close() }
        let chunk = Data(count: 64 << 10)
        while freeBytes > bytes {
            let size = min(chunk.count, max(4_096, freeBytes - bytes))
            do { try file.write(contentsOf: chunk.prefix(size)) } catch { break }
        }
    }

    /// Removes the filler file: the space is free again.
    func free() {
        try? FileManager.default.removeItem(atPath: at("filler"))
    }
}

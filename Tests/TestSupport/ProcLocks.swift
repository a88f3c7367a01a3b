import Foundation

/// Whether process `pid` waits for a `flock` on the file at `path`: `/proc/locks` lists a
/// waiter with "->", then the lock's kind, the process and the file (its device, then its
/// inode; only the inode is compared, since `stat` and `/proc/locks` can name a device apart,
/// as on btrfs). False where `/proc/locks` cannot be read.
public func flockIsAwaited(onFile path: String, byProcess pid: Int32) -> Bool {
    guard let inode = (try? FileManager.default.attributesOfItem(atPath: path))?[.systemFileNumber] as? Int,
        let locks = try? String(contentsOfFile: "/proc/locks", encoding: .utf8)
    else { return false }
    let process = String(pid)
    return locks.split(separator: "\n").contains { line in
        let fields = line.split(separator: " ")
        return line.contains("-> FLOCK") && fields.contains { $0 == process }
            && fields.contains { $0.hasSuffix(":\(inode)") }
    }
}

/// Waits, up to `limit`, until `condition` holds; whether it did.
public func waitUntil(limit: Duration = .seconds(30), _ condition: () -> Bool) -> Bool {
    let deadline = ContinuousClock.now + limit
    while !condition() {
        if ContinuousClock.now > deadline { return false }
        usleep(1_000)
    }
    return true
}

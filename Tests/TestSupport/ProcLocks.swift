import Foundation

/// Whether process `pid` waits for a `flock` on the file at `path`: `/proc/locks` lists a
/// waiter with "->", then the lock's kind, the process and the file (its device, then its
/// inode; only the inode is compared, since `stat` and `/proc/locks` can name a device apart,
/// as on btrfs). False where `/proc/locks` cannot be read.
public func flockIsAwaited(onFile path: String, byProcess pid: Int32) -> Bool {
    guard let inode = inode(of: path), let locks = procLocks() else { return false }
    let process = String(pid)
    return locks.split(separator: "\n").contains { line in
        let fields = line.split(separator: " ")
        return line.contains("-> FLOCK") && fields.contains { $0 == process }
            && fields.contains { $0.hasSuffix(":\(inode)") }
    }
}

/// The inode number of the file at `path`, or nil when it cannot be read.
public func inode(of path: String) -> Int? {
    (try? FileManager.default.attributesOfItem(atPath: path))?[.systemFileNumber] as? Int
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

/// All of `/proc/locks`, read to its end. Foundation reads a file whose size says 0, as
/// `/proc`'s do, only up to one page (4,047 of 10,492 bytes with 200 locks held), and a busy
/// machine's list is longer.
private func procLocks() -> String? {
    let descriptor = open("/proc/locks", O_RDONLY | O_CLOEXEC)
    guard descriptor >= 0 else { return nil }
    defer { close(descriptor) }
    var text: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 1 << 16)
    while true {
        let count = read(descriptor, &buffer, buffer.count)
        if count < 0 {
            if errno == EINTR { continue }
            return nil
        }
        if count == 0 { return String(decoding: text, as: UTF8.self) }
        text += buffer[0..<count]
    }
}

import AuthDomain
import DataProtection
import EventLog
import Foundation
import PasswordHashing

/// Generates a realistic log for benchmarks and demos: users who register, verify their
/// email, log in, rotate refresh tokens, change profiles and roles, ask for resets, log out,
/// and get soft-deleted and restored.
///
/// Events go through the log's normal append path (sealed, hash-chained, group-committed) in
/// large batches. Users come in windows of 10,000 whose events interleave at random; one
/// password hash is made once and shared, since hashing per user would dominate.
///
/// No seeded user can sign in: the shared hash is of 32 random bytes drawn for the run and
/// overwritten once hashed, never printed or stored; the seeded reset and refresh token
/// hashes are random too. Every seeded event has the correlation id ``correlationID``.
public struct Seeder: Sendable {
    public let log: any EventLog
    public let keys: any DataKeyStore
    /// The correlation id of every seeded event.
    public static let correlationID = "seed"

    public init(log: any EventLog, keys: any DataKeyStore) {
        self.log = log
        self.keys = keys
    }

    public struct Report: Sendable {
        public var users: Int
        public var events: Int
        public var seconds: Double
    }

    /// The email address of seeded user `number`.
    public static func email(number: Int) -> String { "seed\(number)@example.com" }

    /// The uniqueness key of ``email(number:)``. A seeded address is ASCII, lower-case and
    /// trimmed, so its lookup key is itself; hashing it directly skips the Unicode
    /// normalisation that parsing an ``EmailAddress`` costs per user.
    public static func claimKey(number: Int) -> [UInt8] { TokenHash(of: email(number: number).utf8).bytes }

    /// Appends about `events` events for `users` new users (at least three per user: each
    /// registers, is asked to verify and verifies), numbered
    /// from `firstNumber` (their addresses are ``email(number:)``).
    ///
    /// `windowsPerAppend` windows make one append, so one write transaction and one sync. The
    /// claim index takes each window's new emails at random places, and LMDB copies every page
    /// a transaction touches: fewer, larger commits copy and write those pages fewer times.
    /// The next appends are generated while the writer thread commits these.
    public func seed(
        users: Int, events: Int, firstNumber: Int = 0, window: Int = 10_000, windowsPerAppend: Int = 4,
        progress: (@Sendable (Int, Int) -> Void)? = nil
    ) async throws -> Report {
        let start = Date()
        let passwordHash = try Self.unguessablePasswordHash()
        let others = max(0, events - 3 * users)
        // Seeded data is not secret: a fast generator instead of a system call per number.
        var system = SystemRandomNumberGenerator()
        var random = FastRandom(seed: system.next())
        let sealer = try AESGCMContext()
        var written = 0
        var pending: Task<Void, any Error>?
        var requests: [AppendRequest] = []
        var base = Timestamp.now().microsecondsSince1970
        for (number, first) in stride(from: 0, to: users, by: window).enumerated() {
            let count = min(window, users - first)
            let ids = (0..<count).map { offset in
                UUID.timeOrdered(at: Timestamp(microsecondsSince1970: base + Int64(offset)), using: &random)
            }
            base += Int64(count) * 1_000
            var batch = SeedWindow(
                first: firstNumber + first, dataKeys: try keys.createDataKeys(for: ids), sealer: sealer, ids: ids)
            try batch.register(
                passwordHash: passwordHash, expiresAt: Timestamp(microsecondsSince1970: base + 172_800_000_000),
                using: &random)
            let share = others * (first + count) / max(users, 1) - others * first / max(users, 1)
            try batch.continueHistories(count: share, using: &random)
            requests += batch.requests
            written += batch.events
            guard (number + 1) % max(windowsPerAppend, 1) == 0 || first + count == users else { continue }
            try await pending?.value
            pending = append(requests)
            requests = []
            progress?(written, events)
        }
        try await pending?.value
        return Report(users: users, events: written, seconds: Date().timeIntervalSince(start))
    }

    /// The hash of a password nobody knows: 32 random bytes as hex, overwritten once hashed.
    static func unguessablePasswordHash() throws -> String {
        var system = SystemRandomNumberGenerator()  // the kernel's CSPRNG
        var text = (0..<64).map { _ in Hex.digits[Int(system.next() % 16)] }
        defer { text.withUnsafeMutableBytes { cleanse($0) } }
        return try Argon2idHasher().hash(String(decoding: text, as: UTF8.self))
    }

    /// Appends in the background; the task fails with the first rejected request's error.
    private func append(_ requests: [AppendRequest]) -> Task<Void, any Error> {
        let log = self.log
        return Task {
            for outcome in try await log.append(requests) { _ = try outcome.get() }
        }
    }
}

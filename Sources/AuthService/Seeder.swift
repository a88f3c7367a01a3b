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
/// password is hashed once and shared, since hashing per user would dominate.
public struct Seeder: Sendable {
    public let log: any EventLog
    public let keys: KeyStore
    public static let password = "seeded users all share this passphrase"

    public init(log: any EventLog, keys: KeyStore) {
        self.log = log
        self.keys = keys
    }

    public struct Report: Sendable {
        public var users: Int
        public var events: Int
        public var seconds: Double
    }

    /// Appends about `events` events for `users` new users (at least two per user).
    public func seed(
        users: Int, events: Int, window: Int = 10_000, progress: (@Sendable (Int, Int) -> Void)? = nil
    ) async throws -> Report {
        let start = Date()
        let passwordHash = try Argon2idHasher().hash(Self.password)
        let others = max(0, events - 2 * users)
        // Seeded data is not secret: a fast generator instead of a system call per number.
        var system = SystemRandomNumberGenerator()
        var random = FastRandom(state: system.next())
        var written = 0
        var pending: Task<Void, any Error>?
        var base = Timestamp.now().microsecondsSince1970
        for first in stride(from: 0, to: users, by: window) {
            let count = min(window, users - first)
            let ids = (0..<count).map { offset in
                UUID.timeOrdered(at: Timestamp(microsecondsSince1970: base + Int64(offset)), using: &random)
            }
            base += Int64(count) * 1_000
            let dataKeys = try keys.createDataKeys(for: ids)
            var people = ids.enumerated().map { SeedUser(id: $1, number: first + $0) }
            // One event's envelope, its personal part sealed with the user's new key (no key-store
            // look-up, and the actor's text made once per user rather than once per event).
            func envelope(_ event: UserEvent, of index: Int, version: UInt64, actor: String) throws -> NewEvent {
                let person = people[index]
                return NewEvent(
                    type: event.typeName, schemaVersion: event.schemaVersion,
                    metadata: EventMetadata(actor: actor, correlationID: "seed"),
                    payload: try event.payload { personal in
                        try AESGCM.seal(
                            personal, key: dataKeys[index],
                            associatedData: UserEvent.sealingContext(
                                stream: person.id, version: version, type: event.typeName))
                    })
            }
            var requests: [AppendRequest] = []
            for index in people.indices {
                let person = people[index]
                let registered = UserEvent.registered(
                    .init(
                        email: "seed\(person.number)@example.com", passwordHash: passwordHash,
                        firstName: "First\(person.number % 997)", lastName: "Last\(person.number % 991)",
                        phone: person.number % 3 == 0 ? nil : "+1 555 \(person.number % 10_000)", role: .target))
                let verification = UserEvent.emailVerificationRequested(
                    .init(
                        tokenHash: TokenHash(bytes: randomBytes(&random))!,
                        expiresAt: Timestamp(microsecondsSince1970: base + 172_800_000_000)))
                requests.append(
                    AppendRequest(
                        stream: person.id, expected: .noStream,
                        events: [
                            try envelope(registered, of: index, version: 1, actor: "anonymous"),
                            try envelope(verification, of: index, version: 2, actor: "anonymous"),
                        ],
                        claims: [
                            UniqueClaim(
                                .claim, scope: EmailAddress.claimScope,
                                key: try EmailAddress("seed\(person.number)@example.com").claimKey)
                        ]))
                people[index].version = 2
            }
            let share = others * (first + count) / max(users, 1) - others * first / max(users, 1)
            for _ in 0..<share {
                let index = Int(random.next() % UInt64(count))
                let event = people[index].nextEvent(using: &random)
                let person = people[index]
                requests.append(
                    AppendRequest(
                        stream: person.id, expected: .exactly(person.version),
                        events: [try envelope(event, of: index, version: person.version + 1, actor: person.actor)]))
                people[index].apply(event)
            }
            // Registrations first (their order is the stream order), then the rest in random order;
            // the version expectations fix each stream's order. The next window is prepared
            // while this one is appended.
            try await pending?.value
            let log = self.log
            let batch = requests
            pending = Task {
                for chunk in stride(from: 0, to: batch.count, by: 20_000) {
                    let outcomes = try await log.append(Array(batch[chunk..<min(chunk + 20_000, batch.count)]))
                    for outcome in outcomes { _ = try outcome.get() }
                }
            }
            written += requests.reduce(0) { $0 + $1.events.count }
            progress?(written, events)
        }
        try await pending?.value
        return Report(users: users, events: written, seconds: Date().timeIntervalSince(start))
    }
}

private func randomBytes(_ random: inout FastRandom) -> [UInt8] {
    (0..<4).flatMap { _ in withUnsafeBytes(of: random.next()) { Array($0) } }
}

/// SplitMix64: fast, not for secrets.
private struct FastRandom: RandomNumberGenerator {
    var state: UInt64

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    mutating func uuid() -> UUID {
        let (a, b) = (next(), next())
        var bytes = withUnsafeBytes(of: (a, b)) { Array($0) }
        bytes[6] = 0x40 | (bytes[6] & 0x0F)
        bytes[8] = 0x80 | (bytes[8] & 0x3F)
        return UUID(
            uuid: (
                bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7],
                bytes[8], bytes[9], bytes[10], bytes[11], bytes[12], bytes[13], bytes[14], bytes[15]
            ))
    }
}

/// What the seeder tracks of one user to emit events that make sense.
private struct SeedUser {
    let id: UUID
    let number: Int
    var version: UInt64 = 0
    var session: UUID?
    var role = Role.target
    var deleted = false

    /// The actor text of this user's own events, made once.
    let actor: String

    init(id: UUID, number: Int) {
        self.id = id
        self.number = number
        self.actor = id.uuidString.lowercased()
    }

    func nextEvent(using random: inout FastRandom) -> UserEvent {
        let roll = random.next() % 100
        let hash = TokenHash(bytes: randomBytes(&random))!  // stands for the hash of a token nobody holds
        if deleted { return roll < 50 ? .restored : .loginFailed(.init(consecutiveFailures: 1, lockedUntil: nil)) }
        guard let session else { return .loginSucceeded(.init(sessionID: random.uuid(), refreshTokenHash: hash)) }
        switch roll {
        case 0..<45: return .refreshTokenRotated(.init(sessionID: session, refreshTokenHash: hash))
        case 45..<60: return .loginSucceeded(.init(sessionID: random.uuid(), refreshTokenHash: hash))
        case 60..<72: return .profileUpdated(.init(firstName: "Renamed\(roll)", phone: .some("+1 555 \(roll)")))
        case 72..<80: return .loggedOut(sessionID: session)
        case 80..<86: return .roleChanged(from: role, to: Role.allCases[Int(random.next() % 4)])
        case 86..<92: return .passwordResetRequested(.init(tokenHash: hash, expiresAt: Timestamp.now()))
        case 92..<97: return .loginFailed(.init(consecutiveFailures: 1, lockedUntil: nil))
        default: return .softDeleted
        }
    }

    mutating func apply(_ event: UserEvent) {
        version += 1
        switch event {
        case .loginSucceeded(let started): session = started.sessionID
        case .loggedOut, .softDeleted: session = nil
        case .roleChanged(_, let to):
            role = to
            session = nil
        default: break
        }
        if case .softDeleted = event { deleted = true }
        if case .restored = event { deleted = false }
    }
}

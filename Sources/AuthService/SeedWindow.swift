import AuthDomain
import DataProtection
import EventLog
import Foundation

/// The appends of one window of seeded users: each registers and asks for verification, then
/// the window's share of later events follows, users picked at random so streams interleave.
///
/// Built off the writer thread while the previous window is appended. Personal fields are
/// sealed with each user's new data key through one reused AES-GCM context, and email claim
/// keys are hashed directly (see ``Seeder/claimKey(number:)``) rather than parsed per user.
struct SeedWindow {
    let dataKeys: [[UInt8]]
    var people: [SeedUser]
    let sealer: AESGCMContext
    private(set) var requests: [AppendRequest] = []
    private(set) var events = 0

    init(first: Int, dataKeys: [[UInt8]], sealer: AESGCMContext, ids: [UUID]) {
        self.dataKeys = dataKeys
        self.sealer = sealer
        people = ids.enumerated().map { SeedUser(id: $1, number: first + $0) }
    }

    /// Registrations first: their order is each stream's start.
    mutating func register(passwordHash: String, expiresAt: Timestamp, using random: inout FastRandom) throws {
        requests.reserveCapacity(requests.count + people.count)
        for index in people.indices {
            let number = people[index].number
            let email = Seeder.email(number: number)
            let registered = UserEvent.registered(
                .init(
                    email: email, passwordHash: passwordHash, firstName: "First\(number % 997)",
                    lastName: "Last\(number % 991)", phone: number % 3 == 0 ? nil : "+1 555 \(number % 10_000)",
                    role: .target))
            let verification = UserEvent.emailVerificationRequested(
                .init(tokenHash: TokenHash(bytes: randomBytes(&random))!, expiresAt: expiresAt))
            requests.append(
                AppendRequest(
                    stream: people[index].id, expected: .noStream,
                    events: [
                        try envelope(registered, of: index, version: 1, actor: "anonymous"),
                        try envelope(verification, of: index, version: 2, actor: "anonymous"),
                        // Verified, as the seeder's users are: a soft-delete later keeps the
                        // address reserved (`UserState.holdsEmailClaim`).
                        try envelope(.emailVerified, of: index, version: 3, actor: people[index].actor),
                    ],
                    claims: [UniqueClaim(.claim, scope: EmailAddress.claimScope, key: Seeder.claimKey(number: number))])
            )
            people[index].version = 3
            events += 3
        }
    }

    /// `count` single-event appends by users of this window picked at random; the version
    /// expectations fix each stream's order.
    mutating func continueHistories(count: Int, using random: inout FastRandom) throws {
        requests.reserveCapacity(requests.count + count)
        for _ in 0..<count {
            let index = Int(random.next() % UInt64(people.count))
            let event = people[index].nextEvent(using: &random)
            let version = people[index].version
            requests.append(
                AppendRequest(
                    stream: people[index].id, expected: .exactly(version),
                    events: [try envelope(event, of: index, version: version + 1, actor: people[index].actor)]))
            people[index].apply(event)
            events += 1
        }
    }

    /// One event's envelope, its personal part sealed with the user's key against its stream,
    /// version and type, exactly as the service seals it.
    private func envelope(_ event: UserEvent, of index: Int, version: UInt64, actor: String) throws -> NewEvent {
        let type = event.typeName
        let payload = try event.payload { personal in
            let context = UserEvent.sealingContext(stream: people[index].id, version: version, type: type)
            return try personal.withUnsafeBytes { plaintext in
                try dataKeys[index].withUnsafeBytes { key in
                    try context.withUnsafeBytes { try sealer.seal(plaintext, key: key, associatedData: $0) }
                }
            }
        }
        return NewEvent(
            type: type, schemaVersion: event.schemaVersion,
            metadata: EventMetadata(actor: actor, correlationID: Seeder.correlationID), payload: payload)
    }
}

import AuthDomain
import EventLog
import Foundation

/// Thirty-two random bytes: a stand-in token hash.
func randomBytes(_ random: inout FastRandom) -> [UInt8] {
    (0..<4).flatMap { _ in withUnsafeBytes(of: random.next()) { Array($0) } }
}

/// The seeder's generator: fast, seedable, not for secrets.
typealias FastRandom = SplitMix64

extension SplitMix64 {
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
struct SeedUser {
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

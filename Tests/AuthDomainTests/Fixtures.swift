import EventLog
import Foundation

@testable import AuthDomain

func at(_ seconds: Int64) -> Timestamp { Timestamp(microsecondsSince1970: seconds * 1_000_000) }

func hash(_ text: String) -> TokenHash { TokenHash(of: Array(text.utf8)) }

let secretA = [UInt8](repeating: 0xA1, count: 32)
let secretB = [UInt8](repeating: 0xB2, count: 32)
let secretC = [UInt8](repeating: 0xC3, count: 32)

/// A registered user at t = 0, folded through `decide` and `evolve` only.
func registeredUser(id: UUID = UUID()) throws -> UserState {
    let command = Register(
        email: try EmailAddress("Alice@Example.com"), passwordHash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA",
        firstName: "Alice", lastName: "Liddell", phone: nil, verificationTokenHash: hash("verify"))
    return apply(command, to: UserState(id: id), at: at(0)).state
}

/// Decides and folds the decided events at `time`.
func apply(_ command: any UserCommand, to state: UserState, at time: Timestamp) -> (
    state: UserState, decision: Decision
) {
    let decision = command.decide(state, now: time)
    return (decision.events.reduce(state) { $0.evolve($1, at: time) }, decision)
}

/// A signed-in user whose session's current token has secret `secretA`.
func signedInUser() throws -> (UserState, RefreshToken) {
    let user = try registeredUser()
    let token = RefreshToken(userID: user.id, sessionID: UUID(), secret: secretA)
    let login = Login(passwordMatches: true, sessionID: token.sessionID, refreshTokenHash: token.secretHash)
    return (apply(login, to: user, at: at(10)).state, token)
}

import AuthDomain
import AuthService
import EventLog
import Foundation

/// Commands of every kind on random users through `service`, some refused (a refusal is part
/// of a random history): registrations (`user<prefix><step>@example.com`), wrong passwords,
/// role, profile and Stripe changes, soft-deletes and restores, reset requests and erasures.
/// The same `seed` gives the same commands; `users` holds the ids registered, in order.
public func randomHistory(
    _ service: AuthService, users: inout [UUID], seed: UInt64, steps: Int, emailPrefix: String = ""
) async throws {
    var random = SplitMix64(seed: seed)
    let admin = Actor.system
    for step in 0..<steps {
        let choice = users.isEmpty ? 0 : Int(random.next() % 9)
        let target = users.isEmpty ? UUID() : users[Int(random.next() % UInt64(users.count))]
        do {
            switch choice {
            case 0:
                let user = try await service.register(
                    .init(
                        email: "user\(emailPrefix)\(step)@example.com", password: "password-\(step)-long",
                        firstName: "F\(step)", lastName: "L\(step)"),
                    correlationID: "p")
                users.append(user.id)
            case 1:
                let email = try service.load(target).email
                _ = try await service.login(email: email, password: "wrong password", correlationID: "p")
            case 2:
                try await service.changeRole(
                    of: target, to: Role.allCases[Int(random.next() % 4)], actor: admin, correlationID: "p")
            case 3:
                try await service.updateProfile(
                    of: target, firstName: "N\(random.next() % 50)", lastName: nil,
                    phone: random.next() % 2 == 0 ? "+1 555 \(step)" : "", actor: admin, correlationID: "p")
            case 4: try await service.softDelete(target, actor: admin, correlationID: "p")
            case 5: try await service.restore(target, actor: admin, correlationID: "p")
            case 6:
                try await service.linkStripeCustomer(
                    of: target, customerID: "cus_\(random.next() % 40)", actor: admin, correlationID: "p")
            case 7:
                let email = try service.load(target).email
                try await service.requestPasswordReset(email: email, correlationID: "p")
            default:
                if random.next() % 4 == 0 { try await service.erase(target, actor: admin, correlationID: "p") }
            }
        } catch is Rejection {
            continue
        }
    }
}

import EventLog

/// A field an audit trail reports the changes of: how two states compare on it, and how its
/// value is written.
///
/// Rules:
/// - Each change names the field (the seed's snake_case name) and its new value as text:
///   empty when the value is gone, "changed" for a secret (a password or token hash), whose
///   value is never written.
/// - Times and counts are written only when they differ: most events change none of them.
/// - ``all`` has a fixed order, so that a set of fields fits in a `UInt32` bit mask.
public struct AuditField: Sendable {
    public let name: String
    public let isSecret: Bool
    private let same: @Sendable (UserState, UserState) -> Bool
    private let value: @Sendable (UserState) -> String

    /// The field's value in `state` as a change writes it ("changed" for a secret).
    public func text(of state: UserState) -> String { isSecret ? "changed" : value(state) }

    /// Whether `old` and `new` differ on this field.
    public func differs(_ old: UserState, _ new: UserState) -> Bool { !same(old, new) }

    private init(
        _ name: String, secret: Bool = false, same: @escaping @Sendable (UserState, UserState) -> Bool,
        value: @escaping @Sendable (UserState) -> String = { _ in "changed" }
    ) {
        self.name = name
        self.isSecret = secret
        self.same = same
        self.value = value
    }

    public static let all: [AuditField] = [
        AuditField("email", same: { $0.email == $1.email }, value: { $0.email }),
        AuditField("first_name", same: { $0.firstName == $1.firstName }, value: { $0.firstName }),
        AuditField("last_name", same: { $0.lastName == $1.lastName }, value: { $0.lastName }),
        AuditField("phone", same: { $0.phone == $1.phone }, value: { $0.phone ?? "" }),
        // A role is written when the user comes into being, whatever it is.
        AuditField("role", same: { $0.exists && $0.role == $1.role }, value: { $0.role.rawValue }),
        AuditField(
            "stripe_customer_id", same: { $0.stripeCustomerID == $1.stripeCustomerID },
            value: { $0.stripeCustomerID ?? "" }),
        AuditField(
            "pending_email", same: { $0.emailChange?.newEmail == $1.emailChange?.newEmail },
            value: { $0.emailChange?.newEmail ?? "" }),
        AuditField(
            "email_verified_at", same: { $0.emailVerifiedAt == $1.emailVerifiedAt },
            value: { $0.emailVerifiedAt?.description ?? "" }),
        AuditField(
            "last_login_at", same: { $0.lastLoginAt == $1.lastLoginAt }, value: { $0.lastLoginAt?.description ?? "" }),
        AuditField("deleted_at", same: { $0.deletedAt == $1.deletedAt }, value: { $0.deletedAt?.description ?? "" }),
        AuditField(
            "locked_until", same: { $0.lockedUntil == $1.lockedUntil }, value: { $0.lockedUntil?.description ?? "" }),
        AuditField(
            "tokens_valid_after", same: { $0.tokensValidAfter == $1.tokensValidAfter },
            value: { $0.tokensValidAfter?.description ?? "" }),
        AuditField("failed_logins", same: { $0.failedLogins == $1.failedLogins }, value: { String($0.failedLogins) }),
        AuditField("password_hash", secret: true, same: { $0.passwordHash == $1.passwordHash }),
        AuditField("refresh_token_hash", secret: true, same: { $0.refreshTokenHash == $1.refreshTokenHash }),
        AuditField("password_reset_token", secret: true, same: { $0.passwordReset?.hash == $1.passwordReset?.hash }),
        AuditField(
            "email_verification_token", secret: true,
            same: { $0.emailVerification?.hash == $1.emailVerification?.hash }),
        AuditField(
            "email_change_token", secret: true, same: { $0.emailChange?.token.hash == $1.emailChange?.token.hash }),
    ]
}

extension AuditEntry {
    /// What changed from `old` to `new`: each changed field's name and its new value as text
    /// (see ``AuditField``).
    public static func changes(from old: UserState, to new: UserState) -> [String: String] {
        var changes: [String: String] = [:]
        for field in AuditField.all where field.differs(old, new) { changes[field.name] = field.text(of: new) }
        return changes
    }

    /// The fields that differ between `old` and `new`, bit `i` for `AuditField.all[i]`:
    /// ``changes(from:to:)`` without writing a value. The fields in `known` are not compared
    /// (their bits come back clear): a caller that only needs to learn which fields ever
    /// change stops comparing a field once it has.
    public static func changedFields(
        from old: UserState, to new: UserState, skipping known: UInt32 = 0
    ) -> UInt32 {
        precondition(AuditField.all.count <= 32, "a field beyond the mask's 32 bits")
        var mask: UInt32 = 0
        for (index, field) in AuditField.all.enumerated() where known & (1 << index) == 0 && field.differs(old, new) {
            mask |= 1 << index
        }
        return mask
    }
}

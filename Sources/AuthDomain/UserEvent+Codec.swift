import EventLog
import Foundation

/// Stored names, schema versions and binary payloads of ``UserEvent``s.
extension UserEvent {
    /// The event type written in the envelope.
    public var typeName: String {
        switch self {
        case .registered: return "UserRegistered"
        case .emailVerificationRequested: return "EmailVerificationRequested"
        case .emailVerified: return "EmailVerified"
        case .loginSucceeded: return "LoginSucceeded"
        case .loginFailed: return "LoginFailed"
        case .refreshTokenRotated: return "RefreshTokenRotated"
        case .refreshTokenReuseDetected: return "RefreshTokenReuseDetected"
        case .loggedOut: return "LoggedOut"
        case .passwordResetRequested: return "PasswordResetRequested"
        case .passwordResetCompleted: return "PasswordResetCompleted"
        case .passwordChanged: return "PasswordChanged"
        case .passwordRehashed: return "PasswordRehashed"
        case .profileUpdated: return "ProfileUpdated"
        case .roleChanged: return "RoleChanged"
        case .stripeCustomerLinked: return "StripeCustomerLinked"
        case .softDeleted: return "UserSoftDeleted"
        case .restored: return "UserRestored"
        }
    }

    /// Every event type is at schema version 1 so far.
    public var schemaVersion: UInt16 { 1 }

    public var payload: [UInt8] {
        var writer = ByteWriter(capacity: 128)
        switch self {
        case .registered(let registered):
            writer.write(registered.email)
            writer.write(registered.passwordHash)
            writer.write(registered.firstName)
            writer.write(registered.lastName)
            writer.writeOptional(registered.phone) { $0.write($1) }
            writer.write(registered.role.code)
        case .emailVerificationRequested(let issued), .passwordResetRequested(let issued):
            writer.write(raw: issued.tokenHash.bytes)
            writer.write(issued.expiresAt.microsecondsSince1970)
        case .emailVerified, .softDeleted, .restored:
            break
        case .loginSucceeded(let started):
            writer.write(started.sessionID)
            writer.write(raw: started.refreshTokenHash.bytes)
        case .loginFailed(let failed):
            writer.write(failed.consecutiveFailures)
            writer.writeOptional(failed.lockedUntil) { $0.write($1.microsecondsSince1970) }
        case .refreshTokenRotated(let rotated):
            writer.write(rotated.sessionID)
            writer.write(raw: rotated.refreshTokenHash.bytes)
        case .refreshTokenReuseDetected(let session), .loggedOut(let session):
            writer.write(session)
        case .passwordResetCompleted(let hash), .passwordChanged(let hash), .passwordRehashed(let hash):
            writer.write(hash)
        case .profileUpdated(let changes):
            writer.writeOptional(changes.firstName) { $0.write($1) }
            writer.writeOptional(changes.lastName) { $0.write($1) }
            writer.writeOptional(changes.phone) { writer, phone in writer.writeOptional(phone) { $0.write($1) } }
        case .roleChanged(let from, let to):
            writer.write(from.code)
            writer.write(to.code)
        case .stripeCustomerLinked(let customer):
            writer.write(customer)
        }
        return writer.bytes
    }

    /// The event for a log entry with this type, schema version and payload.
    public init(type: String, schemaVersion: UInt16, payload: UnsafeRawBufferPointer) throws(BinaryDecodingError) {
        guard schemaVersion == 1 else { throw .invalidValue("\(type) schema version \(schemaVersion)") }
        var reader = ByteReader(payload)
        switch type {
        case "UserRegistered":
            self = .registered(
                Registered(
                    email: try reader.readString(), passwordHash: try reader.readString(),
                    firstName: try reader.readString(), lastName: try reader.readString(),
                    phone: try reader.readOptional { r throws(BinaryDecodingError) in try r.readString() },
                    role: try reader.readRole()))
        case "EmailVerificationRequested": self = .emailVerificationRequested(try reader.readPendingToken())
        case "PasswordResetRequested": self = .passwordResetRequested(try reader.readPendingToken())
        case "EmailVerified": self = .emailVerified
        case "UserSoftDeleted": self = .softDeleted
        case "UserRestored": self = .restored
        case "LoginSucceeded":
            self = .loginSucceeded(
                SessionStarted(sessionID: try reader.readUUID(), refreshTokenHash: try reader.readTokenHash()))
        case "LoginFailed":
            self = .loginFailed(
                LoginFailed(
                    consecutiveFailures: try reader.readUInt32(),
                    lockedUntil: try reader.readOptional { r throws(BinaryDecodingError) in
                        Timestamp(microsecondsSince1970: try r.readInt64())
                    }))
        case "RefreshTokenRotated":
            self = .refreshTokenRotated(
                TokenRotated(sessionID: try reader.readUUID(), refreshTokenHash: try reader.readTokenHash()))
        case "RefreshTokenReuseDetected": self = .refreshTokenReuseDetected(sessionID: try reader.readUUID())
        case "LoggedOut": self = .loggedOut(sessionID: try reader.readUUID())
        case "PasswordResetCompleted": self = .passwordResetCompleted(passwordHash: try reader.readString())
        case "PasswordChanged": self = .passwordChanged(passwordHash: try reader.readString())
        case "PasswordRehashed": self = .passwordRehashed(passwordHash: try reader.readString())
        case "ProfileUpdated":
            let readString = { (r: inout ByteReader) throws(BinaryDecodingError) -> String in try r.readString() }
            self = .profileUpdated(
                ProfileChanges(
                    firstName: try reader.readOptional(readString), lastName: try reader.readOptional(readString),
                    phone: try reader.readOptional { r throws(BinaryDecodingError) in try r.readOptional(readString) }))
        case "RoleChanged": self = .roleChanged(from: try reader.readRole(), to: try reader.readRole())
        case "StripeCustomerLinked": self = .stripeCustomerLinked(customerID: try reader.readString())
        default: throw .invalidValue("unknown event type \(type)")
        }
        guard reader.isAtEnd else { throw .invalidValue("\(reader.remaining) bytes after a \(type) payload") }
    }

    /// The envelope to append, with who caused it and which request it belongs to.
    public func newEvent(actor: Actor, correlationID: String) -> NewEvent {
        NewEvent(
            type: typeName, schemaVersion: schemaVersion,
            metadata: EventMetadata(actor: actor.description, correlationID: correlationID), payload: payload)
    }
}

extension ByteReader {
    mutating func readRole() throws(BinaryDecodingError) -> Role {
        let code = try readUInt8()
        guard let role = Role(code: code) else { throw .invalidValue("role code \(code)") }
        return role
    }

    mutating func readTokenHash() throws(BinaryDecodingError) -> TokenHash {
        TokenHash(bytes: [UInt8](try readBytes(count: 32)))!
    }

    mutating func readPendingToken() throws(BinaryDecodingError) -> UserEvent.PendingTokenIssued {
        UserEvent.PendingTokenIssued(
            tokenHash: try readTokenHash(), expiresAt: Timestamp(microsecondsSince1970: try readInt64()))
    }
}

import AccessTokens
import AuthDomain
import AuthService
import Foundation
import Hummingbird
import PasswordHashing

/// Who is calling, once their bearer token checked out against their current state.
struct Caller {
    let id: UUID
    let role: Role
    let sessionID: UUID
    var actor: Actor { .user(id, role) }
}

/// Who is calling a route that an application's backend may call too: a signed-in user, or
/// a service credential (``ServiceCredential``) whose scopes the domain's rules weigh.
enum Principal {
    case user(Caller)
    case credential(ServiceCredential)

    var actor: Actor {
        switch self {
        case .user(let caller): return caller.actor
        case .credential(let credential): return credential.actor
        }
    }
}

extension AuthServer {
    /// The credentials of an `Authorization` field of the Bearer scheme, or `nil` for another
    /// scheme: the scheme's name is case-insensitive (RFC 9110, section 11.1: `Bearer`,
    /// `bearer` and `BEARER` are one scheme), followed by one space.
    static func bearerToken(_ header: String) -> String? {
        let bytes = Array(header.utf8.prefix(7))
        guard bytes.count == 7, bytes[6] == UInt8(ascii: " "),
            zip(bytes.prefix(6), "bearer".utf8).allSatisfy({ $0 | 0x20 == $1 })
        else { return nil }
        return String(decoding: header.utf8.dropFirst(7), as: UTF8.self)
    }

    /// The caller of a request with `Authorization: Bearer <access token>`: a valid token
    /// (signature by one of our keys, ES256 or EdDSA as the key is, issuer, audience, time) that the user's
    /// current state still accepts (``UserState/acceptsAccessToken(session:issuedAt:)``).
    /// A service credential is refused (403 `forbidden`): routes it may use ask ``principal(_:)``.
    func caller(_ request: Request) throws -> Caller {
        try caller(authorization: request.headers[.authorization])
    }

    /// ``caller(_:)`` from the `Authorization` field alone (`cachedOnly`: see
    /// ``principal(authorization:cachedOnly:)``).
    func caller(authorization: String?, cachedOnly: Bool = false) throws -> Caller {
        switch try principal(authorization: authorization, cachedOnly: cachedOnly) {
        case .user(let caller): return caller
        case .credential: throw Rejection.forbidden
        }
    }

    /// The caller of a route service credentials may use: a bearer secret with the credential
    /// prefix (`alk_`) is looked up by its digest among the credentials not revoked (401 when
    /// it is none of them); any other bearer is an access token, checked as ``caller(_:)`` does.
    func principal(_ request: Request) throws -> Principal {
        try principal(authorization: request.headers[.authorization])
    }

    /// ``principal(_:)`` from the `Authorization` field alone (the fast reads' path has no
    /// Hummingbird request). With `cachedOnly` it does no work that may wait or that an
    /// attacker could make costly: only an access token already verified (in the cache) is
    /// taken, and anything else throws ``NotCached`` (the fast reads then pass the request on).
    func principal(authorization header: String?, cachedOnly: Bool = false) throws -> Principal {
        guard let header, let token = Self.bearerToken(header) else {
            throw Problem.unauthorized
        }
        if cachedOnly {
            guard !token.hasPrefix(ServiceCredential.secretPrefix) else { throw NotCached() }
            let now = Int64(Date().timeIntervalSince1970)
            guard let claims = verified.cachedClaims(for: token, now: now) else { throw NotCached() }
            return try principal(claims)
        }
        if token.hasPrefix(ServiceCredential.secretPrefix) {
            let found: ServiceCredential?
            do {
                found = try credentials?.credential(presenting: token)
            } catch {
                logger.error("cannot read the service credentials", metadata: ["error": "\(error)"])
                throw Problem.unavailable(
                    "credentials_unavailable", "the service credentials cannot be read now; retry later", retryAfter: 30
                )
            }
            guard let found else { throw Problem.unauthorized }
            return .credential(found)
        }
        let now = Int64(Date().timeIntervalSince1970)
        return try principal(try verified.claims(for: token, now: now) { try tokens.verify(token, now: now) })
    }

    /// The user a verified token names, if their current state still accepts it.
    private func principal(_ claims: AccessClaims) throws -> Principal {
        guard let user = try reads.user(id: claims.subject, includePersonal: false),
            user.acceptsAccessToken(session: claims.sessionID, issuedAt: claims.issuedAt)
        else { throw Problem.unauthorized }
        return .user(Caller(id: user.id, role: user.role, sessionID: claims.sessionID))
    }

    /// A token the verified-token cache does not hold, met with `cachedOnly`.
    struct NotCached: Error {}

    /// A new access token for a session the service just granted.
    func accessToken(for grant: AuthService.SessionGrant) throws -> Response {
        let now = Int64(Date().timeIntervalSince1970)
        // The token's id from the reserve the refresh tokens' secrets come from: one call of
        // the generator fills it for many tokens (``SecureBytes``).
        let tokenID = (try? SecureBytes.random(16)).map(UUID.version4(bits:)) ?? UUID.random()
        let claims = AccessClaims(
            issuer: configuration.issuer, audience: configuration.audience, subject: grant.user.id,
            role: grant.user.role.rawValue, sessionID: grant.sessionID, issuedAt: now,
            lifetime: configuration.accessTokenLifetime, tokenID: tokenID.lowercasedText)
        let accessToken = try tokens.signedBytes(claims)
        // Tokens are base64url and dots only: nothing to escape. Written once, into the
        // answer's body.
        var body = ByteBufferAllocator().buffer(capacity: accessToken.count + grant.refreshToken.utf8.count + 96)
        body.writeStaticString("{\"access_token\":\"")
        body.writeBytes(accessToken)
        body.writeStaticString("\",\"expires_in\":")
        body.writeString(String(configuration.accessTokenLifetime))
        body.writeStaticString(",\"refresh_token\":\"")
        body.writeString(grant.refreshToken)
        body.writeStaticString("\",\"token_type\":\"Bearer\"}")
        return Response(status: .ok, headers: Self.tokenHeaders, body: .init(byteBuffer: body))
    }

    /// The fields of an answer carrying tokens, made once. RFC 6749, section 5.1: such an
    /// answer must not be stored by any cache.
    static let tokenHeaders: HTTPFields = [
        .contentType: "application/json", .cacheControl: "no-store", .pragma: "no-cache",
    ]

    func client(_ context: AuthRequestContext) -> String {
        context.clientAddress
    }
}

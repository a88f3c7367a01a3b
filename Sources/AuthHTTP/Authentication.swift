import AccessTokens
import AuthDomain
import AuthService
import Foundation
import Hummingbird

/// Who is calling, once their bearer token checked out against their current state.
struct Caller {
    let id: UUID
    let role: Role
    let sessionID: UUID
    var actor: Actor { .user(id, role) }
}

extension AuthServer {
    /// The caller of a request with `Authorization: Bearer <access token>`: a valid token
    /// (signature by one of our keys, ES256 or EdDSA as the key is, issuer, audience, time) that the user's
    /// current state still accepts (``UserState/acceptsAccessToken(session:issuedAt:)``).
    func caller(_ request: Request) throws -> Caller {
        guard let header = request.headers[.authorization], header.hasPrefix("Bearer ") else {
            throw Problem.unauthorized
        }
        let token = String(header.dropFirst(7))
        let now = Int64(Date().timeIntervalSince1970)
        let claims = try verified.claims(for: token, now: now) { try tokens.verify(token, now: now) }
        guard let user = try reads.user(id: claims.subject, includePersonal: false),
            user.acceptsAccessToken(session: claims.sessionID, issuedAt: claims.issuedAt)
        else { throw Problem.unauthorized }
        return Caller(id: user.id, role: user.role, sessionID: claims.sessionID)
    }

    /// A new access token for a session the service just granted.
    func accessToken(for grant: AuthService.SessionGrant) throws -> Response {
        let now = Int64(Date().timeIntervalSince1970)
        let claims = AccessClaims(
            issuer: configuration.issuer, audience: configuration.audience, subject: grant.user.id,
            role: grant.user.role.rawValue, sessionID: grant.sessionID, issuedAt: now,
            lifetime: configuration.accessTokenLifetime, tokenID: UUID().uuidString.lowercased())
        // Tokens are base64url and dots only: nothing to escape.
        let body =
            "{\"access_token\":\"\(try tokens.sign(claims))\",\"expires_in\":\(configuration.accessTokenLifetime),"
            + "\"refresh_token\":\"\(grant.refreshToken)\",\"token_type\":\"Bearer\"}"
        return json(bytes: body.utf8)
    }

    func client(_ context: AuthRequestContext) -> String {
        context.clientAddress
    }
}

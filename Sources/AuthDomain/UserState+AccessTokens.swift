import Foundation

extension UserState {
    /// Whether this state still accepts an access token (already checked for signature,
    /// issuer, audience and time) naming session `sessionID`, issued at `issuedAt` (whole
    /// seconds since 1970):
    /// - the user exists and is not soft-deleted (an erased user is deleted too);
    /// - the session is the user's current one (a login, a logout or a password change ends
    ///   the previous one);
    /// - the token was not issued before ``tokensValidAfter`` (tokens revoked by a role
    ///   change or a password reset), compared in whole seconds, the token's unit.
    ///
    /// The grace window of a refresh token's rotation is the refresh's rule
    /// (``RotateRefreshToken``), not the access token's.
    public func acceptsAccessToken(session sessionID: UUID, issuedAt: Int64) -> Bool {
        guard exists, !isDeleted, session?.id == sessionID else { return false }
        if let revoked = tokensValidAfter, issuedAt < revoked.microsecondsSince1970 / 1_000_000 { return false }
        return true
    }
}

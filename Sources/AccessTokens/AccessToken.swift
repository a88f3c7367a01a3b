import COpenSSL
import EventLog
import Foundation
import Signatures

/// What an access token says (RFC 9068 `at+jwt`): who, which role, which session, when.
public struct AccessClaims: Hashable, Sendable {
    public var issuer: String
    public var audience: String
    public var subject: UUID
    public var role: String
    public var sessionID: UUID
    /// Seconds since 1970.
    public var issuedAt: Int64
    public var notBefore: Int64
    public var expires: Int64
    public var tokenID: String

    public init(
        issuer: String, audience: String, subject: UUID, role: String, sessionID: UUID, issuedAt: Int64,
        lifetime: Int64,
        tokenID: String
    ) {
        self.issuer = issuer
        self.audience = audience
        self.subject = subject
        self.role = role
        self.sessionID = sessionID
        self.issuedAt = issuedAt
        self.notBefore = issuedAt
        self.expires = issuedAt + lifetime
        self.tokenID = tokenID
    }
}

/// Signs and verifies ES256 (P-256) and EdDSA (Ed25519) JWTs with the service's own keys.
///
/// Rules: tokens are signed with the key set's signing key, under its algorithm. To verify,
/// the header's `alg` must be exactly `ES256` or `EdDSA` (never `none`, never an HMAC: a
/// public key is never used as a shared secret) and its `typ` `at+jwt`; the key is chosen by
/// `kid` from this issuer's set only (a token naming an unknown kid is refused, never tried
/// with a default key) and must be of the kind the header's `alg` names (an `EdDSA` header
/// over a P-256 key, or the reverse, is refused before any signature check); `iss` and
/// `aud` must match; `nbf <= now < exp`.
public struct AccessTokenIssuer: Sendable {
    public let issuer: String
    public let audience: String
    public let keys: SigningKeys

    public init(issuer: String, audience: String, keys: SigningKeys) {
        self.issuer = issuer
        self.audience = audience
        self.keys = keys
    }

    public func sign(_ claims: AccessClaims) throws(AccessTokenError) -> String {
        String(decoding: try signedBytes(claims), as: UTF8.self)
    }

    /// ``sign(_:)``'s token as its bytes (base64url and dots only), for an answer written
    /// straight into a buffer.
    public func signedBytes(_ claims: AccessClaims) throws(AccessTokenError) -> [UInt8] {
        let signer = keys.signer
        // The token is written as bytes, once: header, payload, then the signature of the two.
        var token: [UInt8] = []
        token.reserveCapacity(640)
        token.append(contentsOf: signer.encodedHeader)
        token.append(UInt8(ascii: "."))
        Base64URL.append(Self.payload(claims), to: &token)
        do {
            let signature = try signer.key.sign(token)
            token.append(UInt8(ascii: "."))
            Base64URL.append(signature, to: &token)
        } catch {
            throw .key(error.description)
        }
        return token
    }

    /// The JWS header of tokens signed with the key `kid` under `algorithm`, in base64url.
    static func encodedHeader(kid: String, algorithm: TokenAlgorithm) -> [UInt8] {
        let header = "{\"alg\":\"\(algorithm.rawValue)\",\"kid\":\(JSONString.quote(kid)),\"typ\":\"at+jwt\"}"
        var encoded: [UInt8] = []
        Base64URL.append(header.utf8, to: &encoded)
        return encoded
    }

    /// The claims as the token's JSON payload, keys in order, strings escaped as JSON asks.
    static func payload(_ claims: AccessClaims) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(320)
        func raw(_ text: StaticString) { text.withUTF8Buffer { out.append(contentsOf: $0) } }
        func string(_ text: String) { JSONString.append(quoting: text, to: &out) }
        raw("{\"aud\":")
        string(claims.audience)
        raw(",\"exp\":")
        out.append(contentsOf: String(claims.expires).utf8)
        raw(",\"iat\":")
        out.append(contentsOf: String(claims.issuedAt).utf8)
        raw(",\"iss\":")
        string(claims.issuer)
        raw(",\"jti\":")
        string(claims.tokenID)
        raw(",\"nbf\":")
        out.append(contentsOf: String(claims.notBefore).utf8)
        raw(",\"role\":")
        string(claims.role)
        raw(",\"sid\":\"")
        claims.sessionID.appendLowercased(to: &out)
        raw("\",\"sub\":\"")
        claims.subject.appendLowercased(to: &out)
        raw("\"}")
        return out
    }

    /// The claims of a valid token, or why not.
    public func verify(_ token: String, now: Int64) throws(AccessTokenError) -> AccessClaims {
        guard token.utf8.count <= 4_096 else { throw .malformed("too long") }
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, let headerBytes = Base64URL.decode(parts[0]),
            let payloadBytes = Base64URL.decode(parts[1]),
            let signature = Base64URL.decode(parts[2])
        else { throw .malformed("not three base64url parts") }
        guard let header = try? JSONSerialization.jsonObject(with: Data(headerBytes)) as? [String: Any] else {
            throw .malformed("header is not a JSON object")
        }
        guard let alg = (header["alg"] as? String).flatMap(TokenAlgorithm.init(rawValue:)) else {
            throw .rejected("algorithm must be ES256 or EdDSA")
        }
        guard header["typ"] as? String == "at+jwt" else { throw .rejected("type must be at+jwt") }
        guard let kid = header["kid"] as? String, let key = keys.key(for: kid) else {
            throw .rejected("unknown key id")
        }
        guard key.algorithm == alg else { throw .rejected("algorithm does not match the key") }
        let input = Array(parts[0].utf8) + [UInt8(ascii: ".")] + Array(parts[1].utf8)
        guard key.verify(signature, of: input) else { throw .rejected("bad signature") }
        guard let claims = try? JSONSerialization.jsonObject(with: Data(payloadBytes)) as? [String: Any],
            let iss = claims["iss"] as? String, let aud = claims["aud"] as? String,
            let sub = (claims["sub"] as? String).flatMap(UUID.init(text:)),
            let sid = (claims["sid"] as? String).flatMap(UUID.init(text:)), let role = claims["role"] as? String,
            let iat = (claims["iat"] as? NSNumber)?.int64Value, let nbf = (claims["nbf"] as? NSNumber)?.int64Value,
            let exp = (claims["exp"] as? NSNumber)?.int64Value, let jti = claims["jti"] as? String
        else { throw .malformed("claims missing or of the wrong type") }
        guard iss == issuer else { throw .rejected("wrong issuer") }
        guard aud == audience else { throw .rejected("wrong audience") }
        guard nbf <= now else { throw .rejected("not valid yet") }
        guard now < exp else { throw .rejected("expired") }
        var result = AccessClaims(
            issuer: iss, audience: aud, subject: sub, role: role, sessionID: sid, issuedAt: iat, lifetime: exp - iat,
            tokenID: jti)
        result.notBefore = nbf
        return result
    }
}

import AccessTokens
import Hummingbird

extension AuthServer {
    /// `GET /.well-known/openid-configuration`: where a gateway or a JWT library finds the
    /// keys of the access tokens (OpenID Connect Discovery 1.0; RFC 8414 reads the same fields).
    ///
    /// Rules:
    /// - `issuer` is the tokens' `iss`, exactly (``Configuration/issuer``: the public URL unless
    ///   authd was given `--issuer`); clients that fetched the document from
    ///   `ISSUER/.well-known/openid-configuration` check that it names that issuer.
    /// - `jwks_uri` is absolute, built on ``Configuration/publicURL``: the JWK Set at
    ///   `/.well-known/jwks.json`, every key that verifies (both kinds while they coexist).
    /// - `id_token_signing_alg_values_supported` lists the algorithms of the keys held, the
    ///   signing one first: the algorithms tokens that verify may carry. Gateways (go-oidc,
    ///   Kong, API Gateway's JWT authorizers) take the accepted algorithms from it.
    /// - Present because a specification requires them: `issuer`, `jwks_uri`,
    ///   `response_types_supported`, `subject_types_supported` and
    ///   `id_token_signing_alg_values_supported` (OpenID Connect Discovery section 3; RFC 8414
    ///   section 2 requires `issuer` and `response_types_supported`). Authlog is not an OpenID
    ///   Provider: it has no authorization endpoint, so `response_types_supported` is empty and
    ///   `authorization_endpoint` is absent (Discovery requires it of a provider), and it issues
    ///   no ID tokens, so RS256, which Discovery requires a provider to list, is not claimed.
    ///   `subject_types_supported` is `public`: `sub` is the user's id for every client.
    /// - `claims_supported` (recommended) names the claims an access token carries.
    func addDiscoveryRoutes(to router: Router<AuthRequestContext>) {
        self.on(router, .get, "/.well-known/openid-configuration") { _, _ in
            try self.json(self.discoveryDocument)
        }
    }

    /// The discovery document (see ``addDiscoveryRoutes(to:)``).
    var discoveryDocument: [String: Any] {
        [
            "issuer": configuration.issuer,
            "jwks_uri": configuration.publicURL.url("/.well-known/jwks.json"),
            "response_types_supported": [String](),
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": tokens.keys.algorithms.map(\.rawValue),
            "claims_supported": ["aud", "exp", "iat", "iss", "jti", "nbf", "role", "sid", "sub"],
        ]
    }
}

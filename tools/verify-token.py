#!/usr/bin/env python3
"""Verifies Authlog access tokens as a backend or gateway would, with PyJWT (PyPI) alone.

Usage: verify-token.py ISSUER < tokens   (one access token a line)

It knows nothing of Authlog but the issuer: it reads ISSUER/.well-known/openid-configuration,
checks that the document names ISSUER, fetches its jwks_uri, and verifies each token with the
key its kid names, under the algorithms the document lists and the key's own `alg` only, with
`iss` = `aud` = ISSUER (authd's audience is its issuer) and exp, nbf, iat required.

Prints one JSON line a token: {"alg", "kid", "sub", "sid", "role"} when it verifies, or
{"error": ...} when not. Exits 0 when every token verified, 1 when one did not, 3 when PyJWT or
cryptography is missing (install them into a virtual environment, as tools/python-tools.sh
does for the tests: Debian's own python3 refuses `pip install`).
Tokens come on standard input, never as arguments (a process list shows arguments).
"""

import json
import sys
import urllib.request

try:
    import cryptography  # noqa: F401  (PyJWT needs it for ES256 and EdDSA)
    import jwt
except ImportError as missing:
    print(
        f"verify-token: the Python module {missing.name} is missing: install pyjwt and cryptography"
        " (PATH=\"$(tools/python-tools.sh):$PATH\" has them)",
        file=sys.stderr,
    )
    sys.exit(3)


def fetch(url):
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.load(response)


def main():
    if len(sys.argv) != 2:
        print("usage: verify-token.py ISSUER < tokens", file=sys.stderr)
        return 64
    issuer = sys.argv[1]
    document = fetch(issuer.rstrip("/") + "/.well-known/openid-configuration")
    if document.get("issuer") != issuer:
        print(f"verify-token: the discovery document names issuer {document.get('issuer')!r}", file=sys.stderr)
        return 1
    allowed = document["id_token_signing_alg_values_supported"]
    keys = {key["kid"]: key for key in fetch(document["jwks_uri"])["keys"]}
    failed = False
    for line in sys.stdin:
        token = line.strip()
        if not token:
            continue
        try:
            header = jwt.get_unverified_header(token)
            jwk = keys.get(header.get("kid"))
            if jwk is None:
                raise jwt.InvalidTokenError("no key with this kid in the JWKS")
            key = jwt.PyJWK(jwk)
            algorithms = [jwk["alg"]] if jwk["alg"] in allowed else []
            claims = jwt.decode(
                token,
                key.key,
                algorithms=algorithms,
                audience=issuer,
                issuer=issuer,
                options={"require": ["exp", "iat", "nbf", "iss", "aud", "sub"]},
            )
            print(json.dumps({
                "alg": header["alg"], "kid": header["kid"], "sub": claims["sub"], "sid": claims.get("sid"),
                "role": claims.get("role"),
            }))
        except jwt.PyJWTError as error:
            failed = True
            print(json.dumps({"error": f"{type(error).__name__}: {error}"}))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

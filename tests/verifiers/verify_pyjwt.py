"""Verifies a tokengate access token with PyJWT's PyJWKClient (an independent
implementation: PyJWT + cryptography). Usage:

    verify_pyjwt.py JWKS_URL TOKEN [ISSUER] [AUDIENCE]

Prints the claims as JSON and exits 0, or prints the error's class and
message and exits 1.
"""

import json
import sys

import jwt


def main() -> int:
    jwks_url, token = sys.argv[1], sys.argv[2]
    issuer = sys.argv[3] if len(sys.argv) > 3 else "tokengate"
    audience = sys.argv[4] if len(sys.argv) > 4 else "tokengate-spa"
    # cache_keys=False: every call fetches the JWKS anew (one call per process anyway).
    client = jwt.PyJWKClient(jwks_url, cache_keys=False)
    try:
        key = client.get_signing_key_from_jwt(token)
        claims = jwt.decode(
            token,
            key.key,
            algorithms=["EdDSA"],
            issuer=issuer,
            audience=audience,
            options={"require": ["exp", "iss", "aud", "sub"]},
        )
    except Exception as e:  # noqa: BLE001 - the caller wants the reason
        print(f"{type(e).__name__}: {e}")
        return 1
    if claims.get("typ") != "access":
        print("not an access token")
        return 1
    print(json.dumps(claims))
    return 0


if __name__ == "__main__":
    sys.exit(main())

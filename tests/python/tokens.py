"""Tokens for the auth tests, minted by PyJWT as a third party would, plus forgeries.

    tokens.py PRIVATE_PEM OTHER_PRIVATE_PEM PUBLIC_PEM SUBJECT SCOPE

prints one JSON object of tokens:
    right        ES256 by PRIVATE_PEM, for SUBJECT with SCOPE, valid for an hour
    other_scope  the same with the scope "other"
    expired      the same as right, expired a minute ago
    altered      right with its payload changed (scope "admin") under the same signature
    other_key    as right, signed by OTHER_PRIVATE_PEM
    none         as right, with alg "none" and no signature
    hs256        as right, HS256 with the public key's PEM as the HMAC secret (the classic
                 algorithm confusion; made by hand, as PyJWT refuses to)
"""
import base64
import hashlib
import hmac
import json
import sys
import time

import jwt


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def main():
    private, other, public, subject, scope = sys.argv[1:6]
    read = lambda path: open(path, "rb").read()
    now = int(time.time())
    claims = {"sub": subject, "scopes": [scope], "iat": now, "exp": now + 3600}
    right = jwt.encode(claims, read(private), algorithm="ES256")
    header, _, signature = right.split(".")
    altered_claims = dict(claims, scopes=["admin", scope], sub="admin")
    altered = ".".join([header, b64(json.dumps(altered_claims).encode()), signature])
    hs_input = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode()) + "." + b64(json.dumps(claims).encode())
    hs_signature = hmac.new(read(public), hs_input.encode(), hashlib.sha256).digest()
    tokens = {
        "right": right,
        "other_scope": jwt.encode(dict(claims, scopes=["other"]), read(private), algorithm="ES256"),
        "expired": jwt.encode(dict(claims, iat=now - 3600, exp=now - 60), read(private), algorithm="ES256"),
        "altered": altered,
        "other_key": jwt.encode(claims, read(other), algorithm="ES256"),
        "none": jwt.encode(claims, None, algorithm="none"),
        "hs256": hs_input + "." + b64(hs_signature),
    }
    # PyJWT verifies its own token with the public key: the keys are what the test thinks.
    jwt.decode(right, read(public), algorithms=["ES256"])
    print(json.dumps(tokens))


if __name__ == "__main__":
    main()

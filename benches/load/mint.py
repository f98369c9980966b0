"""Mints an HS256 token for the supagate-testkit project (valid for two hours from now)."""

import sys
import time
import uuid

import jwt

secret, issuer = sys.argv[1], sys.argv[2]
now = int(time.time())
print(
    jwt.encode(
        {
            "iss": issuer,
            "sub": str(uuid.UUID("8d0fd6e2-4c5a-4b7e-9f3a-2b1c0d9e8f7a")),
            "aud": "authenticated",
            "exp": now + 7200,
            "iat": now,
            "email": "user@example.com",
            "role": "authenticated",
            "aal": "aal1",
            "session_id": "5e7c1a2b-3d4f-4a6b-8c9d-0e1f2a3b4c5d",
            "is_anonymous": False,
            "app_metadata": {"provider": "email", "providers": ["email"]},
            "user_metadata": {},
        },
        secret,
        algorithm="HS256",
        headers={"typ": "JWT"},
    )
)

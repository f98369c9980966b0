"""The seed architecture's FastAPI backend, doing exactly its verification: HTTPBearer, then
jwt.decode(token, secret, algorithms=["HS256"], audience="authenticated"). The baseline for
benches/load/run.sh; not part of the test suite.

FASTAPI_ASYNC=1 declares the dependency and the route `async def` (no thread-pool hop per
request, FastAPI's fastest form); otherwise they are plain `def`, as the FastAPI tutorials and
the seed write them."""

import os

import jwt
from fastapi import Depends, FastAPI, HTTPException
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

SECRET = os.environ["SUPABASE_JWT_SECRET"]
app = FastAPI()
bearer = HTTPBearer()


def decode(creds: HTTPAuthorizationCredentials) -> dict:
    try:
        return jwt.decode(
            creds.credentials, SECRET, algorithms=["HS256"], audience="authenticated"
        )
    except jwt.PyJWTError:
        raise HTTPException(status_code=401, detail="invalid token")


if os.environ.get("FASTAPI_ASYNC") == "1":

    async def current_user(creds: HTTPAuthorizationCredentials = Depends(bearer)) -> dict:
        return decode(creds)

    @app.get("/profile/me")
    async def profile_me(claims: dict = Depends(current_user)) -> dict:
        return {"user_id": claims["sub"], "email": claims.get("email")}

else:

    def current_user(creds: HTTPAuthorizationCredentials = Depends(bearer)) -> dict:
        return decode(creds)

    @app.get("/profile/me")
    def profile_me(claims: dict = Depends(current_user)) -> dict:
        return {"user_id": claims["sub"], "email": claims.get("email")}

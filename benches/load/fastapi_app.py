"""The seed architecture's FastAPI backend, doing exactly its verification: HTTPBearer, then
jwt.decode(token, secret, algorithms=["HS256"], audience="authenticated"). The baseline for
benches/load/run.sh; not part of the test suite."""

import os

import jwt
from fastapi import Depends, FastAPI, HTTPException
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

SECRET = os.environ["SUPABASE_JWT_SECRET"]
app = FastAPI()
bearer = HTTPBearer()


def current_user(creds: HTTPAuthorizationCredentials = Depends(bearer)) -> dict:
    try:
        return jwt.decode(
            creds.credentials, SECRET, algorithms=["HS256"], audience="authenticated"
        )
    except jwt.PyJWTError:
        raise HTTPException(status_code=401, detail="invalid token")


@app.get("/profile/me")
def profile_me(claims: dict = Depends(current_user)) -> dict:
    return {"user_id": claims["sub"], "email": claims.get("email")}

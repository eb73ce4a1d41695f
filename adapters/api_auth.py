"""Tokens for the query API: signed, self-contained, carrying the role.

A token is `tsa_<payload>.<signature>`: the payload is URL-safe base64 of JSON `{"role", "sub", "exp",
"iat"}`, the signature HMAC-SHA256 over the payload text with a key derived from the API secret. Nothing is
stored per token, so any API process holding the secret verifies any token; a token ends at its expiry,
and rotating the secret ends them all (the revocation for a leaked one). The same secret derives the key of
the analysts' pseudonyms, so rotating it also changes every pseudonym: do it deliberately.

The secret comes from `TOUCHSTREAM_API_SECRET` (at least 32 characters) or from the file `api-secret` in
the data folder, created with 256 random bits (mode 0600) the first time it is needed.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from touchstream.projections.roles import ROLES, Role

TOKEN_PREFIX = "tsa_"
SECRET_ENV = "TOUCHSTREAM_API_SECRET"
SECRET_FILE = "api-secret"
MIN_SECRET = 32


class TokenError(Exception):
    """The token is missing, malformed, forged, expired or names an unknown role (the message says which)."""


@dataclass(frozen=True)
class Principal:
    role: Role
    subject: str
    expires_at: int


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def load_secret(data_dir: Path, environ: Mapping[str, str] | None = None) -> bytes:
    env = os.environ if environ is None else environ
    given = env.get(SECRET_ENV, "").strip()
    if given:
        if len(given) < MIN_SECRET:
            raise ValueError(f"{SECRET_ENV} must be at least {MIN_SECRET} characters")
        return given.encode()
    path = data_dir / SECRET_FILE
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(32) + "\n")
    text = path.read_text(encoding="utf-8").strip()
    if len(text) < MIN_SECRET:
        raise ValueError(f"{path} holds fewer than {MIN_SECRET} characters; delete it to make a new one")
    return text.encode()


class TokenSigner:
    def __init__(self, secret: bytes, roles: Mapping[str, Role] = ROLES) -> None:
        if len(secret) < MIN_SECRET:
            raise ValueError(f"the API secret must be at least {MIN_SECRET} bytes")
        self._signing_key = hmac.new(secret, b"touchstream api token v1", hashlib.sha256).digest()
        self.pseudonym_key = hmac.new(secret, b"touchstream pseudonym v1", hashlib.sha256).digest()
        self.roles = dict(roles)

    def _sign(self, payload: str) -> str:
        return _b64(hmac.new(self._signing_key, payload.encode(), hashlib.sha256).digest())

    def mint(self, role: str, subject: str, ttl_s: float, now: float | None = None) -> str:
        if role not in self.roles:
            raise ValueError(f"unknown role {role!r} (known: {', '.join(sorted(self.roles))})")
        issued = int(time.time() if now is None else now)
        body: dict[str, Any] = {"role": role, "sub": subject, "iat": issued, "exp": issued + int(ttl_s)}
        payload = _b64(orjson.dumps(body, option=orjson.OPT_SORT_KEYS))
        return f"{TOKEN_PREFIX}{payload}.{self._sign(payload)}"

    def verify(self, token: str | None, now: float | None = None) -> Principal:
        if not token:
            raise TokenError("no token came: send Authorization: Bearer <token>")
        token = token.strip()
        if not token.startswith(TOKEN_PREFIX) or token.count(".") != 1:
            raise TokenError("not a Touchstream API token")
        payload, signature = token[len(TOKEN_PREFIX) :].split(".")
        if not hmac.compare_digest(self._sign(payload), signature):
            raise TokenError("the token's signature is not valid")
        try:
            body = orjson.loads(_unb64(payload))
            role_name, subject, expires = str(body["role"]), str(body["sub"]), int(body["exp"])
        except (ValueError, KeyError, TypeError, orjson.JSONDecodeError):
            raise TokenError("the token's payload is malformed") from None
        if expires <= (time.time() if now is None else now):
            raise TokenError("the token has expired")
        role = self.roles.get(role_name)
        if role is None:
            raise TokenError(f"the token's role {role_name!r} is not configured here")
        return Principal(role, subject, expires)

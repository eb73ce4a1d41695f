"""Tokens for the query API: signed, self-contained, carrying the role.

A token is `tsa_<payload>.<signature>`: the payload is URL-safe base64 of JSON `{"role", "sub", "exp",
"iat", "jti"}`, the signature HMAC-SHA256 over the payload text with a key derived from the API secret.
Nothing is stored per token, so any API process holding the secret verifies any token. A token lives at
most `MAX_TOKEN_DAYS` (30) days - longer ones are neither minted nor accepted - and ends earlier when its
id (`jti`) is in the revocation list, the file `revoked-tokens` in the data folder (`touchstream api
tokens revoke`), which every API process re-reads when it changes. Rotating the secret ends every token
at once; the same secret derives the key of the analysts' pseudonyms, so rotating it also changes every
pseudonym: do it deliberately.

The secret comes from `TOUCHSTREAM_API_SECRET` or from the file `api-secret` in the data folder, created
with 256 random bits (mode 0600, folder 0700) the first time it is needed. A short or uniform secret, or a
secret file others may read, is refused at start-up with the fix in the message.
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

from ...projections.roles import ROLES, Role
from ..private_files import private_dir, readable_by_others, write_private
from ..secret_checks import MIN_SECRET_BYTES, WeakSecret, check_secret

TOKEN_PREFIX = "tsa_"
SECRET_ENV = "TOUCHSTREAM_API_SECRET"
SECRET_FILE = "api-secret"
REVOKED_FILE = "revoked-tokens"
MIN_SECRET = MIN_SECRET_BYTES
MAX_TOKEN_DAYS = 30
MAX_TOKEN_TTL_S = MAX_TOKEN_DAYS * 86400


class TokenError(Exception):
    """The token is missing, malformed, forged, expired or names an unknown role (the message says which)."""


@dataclass(frozen=True)
class Principal:
    role: Role
    subject: str
    expires_at: int
    token_id: str = ""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def load_secret(data_dir: Path, given: str = "") -> bytes:
    """The API secret, checked: `given` (TOUCHSTREAM_API_SECRET, from the settings) or the data folder's
    file (made on first use); raises WeakSecret (a ValueError) naming the fix."""
    given = given.strip()
    if given:
        return check_secret(given.encode(), SECRET_ENV)
    path = data_dir / SECRET_FILE
    if not path.exists():
        private_dir(data_dir)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(32) + "\n")
    if readable_by_others(path):
        raise WeakSecret(f"{path} may be read by other users: chmod 600 {path} (then rotate it if it leaked)")
    text = path.read_text(encoding="utf-8").strip()
    return check_secret(text.encode(), f"{path} (delete it to have a new one made)")


class RevocationList:
    """Token ids that no longer open anything: one `<jti> <exp>` line each in `revoked-tokens`.

    Re-read whenever the file's modification time or size changes, so a revocation reaches running API
    processes without a restart. Lines of tokens past their expiry are dropped when the file is written."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._seen: tuple[int, int] | None = None
        self._ids: frozenset[str] = frozenset()

    @classmethod
    def in_dir(cls, data_dir: Path) -> RevocationList:
        return cls(data_dir / REVOKED_FILE)

    def _entries(self) -> dict[str, int]:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {}
        entries: dict[str, int] = {}
        for line in text.splitlines():
            token_id, _, expires = line.strip().partition(" ")
            if token_id:
                entries[token_id] = int(expires) if expires.strip().isdigit() else 2**62
        return entries

    def __contains__(self, token_id: object) -> bool:
        try:
            stat = self.path.stat()
            seen: tuple[int, int] | None = (stat.st_mtime_ns, stat.st_size)
        except FileNotFoundError:
            seen = None
        if seen != self._seen:
            self._ids = frozenset(self._entries())
            self._seen = seen
        return token_id in self._ids

    def revoke(self, token_id: str, expires_at: int, now: float | None = None) -> None:
        at = time.time() if now is None else now
        entries = {i: exp for i, exp in self._entries().items() if exp > at}
        entries[token_id] = expires_at
        write_private(self.path, "".join(f"{i} {exp}\n" for i, exp in sorted(entries.items())))


class TokenSigner:
    def __init__(
        self, secret: bytes, roles: Mapping[str, Role] = ROLES, revoked: RevocationList | None = None
    ) -> None:
        check_secret(secret, "the API secret")
        self.revoked = revoked
        self._signing_key = hmac.new(secret, b"touchstream api token v1", hashlib.sha256).digest()
        self.pseudonym_key = hmac.new(secret, b"touchstream pseudonym v1", hashlib.sha256).digest()
        self.roles = dict(roles)

    def _sign(self, payload: str) -> str:
        return _b64(hmac.new(self._signing_key, payload.encode(), hashlib.sha256).digest())

    def mint(self, role: str, subject: str, ttl_s: float, now: float | None = None) -> str:
        if role not in self.roles:
            raise ValueError(f"unknown role {role!r} (known: {', '.join(sorted(self.roles))})")
        if not 0 < ttl_s <= MAX_TOKEN_TTL_S:
            raise ValueError(
                f"a token lives at most {MAX_TOKEN_DAYS} days; mint one for {MAX_TOKEN_DAYS} days or fewer "
                "and mint a new one when it ends"
            )
        issued = int(time.time() if now is None else now)
        body: dict[str, Any] = {
            "role": role,
            "sub": subject,
            "iat": issued,
            "exp": issued + int(ttl_s),
            "jti": secrets.token_hex(12),
        }
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
            issued, token_id = int(body["iat"]), str(body["jti"])
        except (ValueError, KeyError, TypeError, orjson.JSONDecodeError):
            raise TokenError("the token's payload is malformed; mint a new one") from None
        if expires <= (time.time() if now is None else now):
            raise TokenError("the token has expired")
        if expires - issued > MAX_TOKEN_TTL_S:
            raise TokenError(f"the token lives longer than {MAX_TOKEN_DAYS} days; mint a new one")
        if self.revoked is not None and token_id in self.revoked:
            raise TokenError("the token has been revoked")
        role = self.roles.get(role_name)
        if role is None:
            raise TokenError(f"the token's role {role_name!r} is not configured here")
        return Principal(role, subject, expires, token_id)

    def revoke(self, token: str) -> Principal:
        """Add `token` (verified first: only a genuine, live token is listed) to the revocation list."""
        if self.revoked is None:
            raise ValueError("this signer has no revocation list")
        principal = self.verify(token)
        self.revoked.revoke(principal.token_id, principal.expires_at)
        return principal

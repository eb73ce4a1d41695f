"""Start-up checks for shared secrets: refuse what is short or uniform, and say how to make a good one.

A secret is refused before anything is served or sent, so a weak one never protects a running door.
"""

from __future__ import annotations

MIN_SECRET_BYTES = 32
# A random secret of 32+ characters uses dozens of distinct characters; "aaaa…" or "abab…" does not.
MIN_DISTINCT = 10
MAKE_ONE = "make one with: python -c 'import secrets; print(secrets.token_urlsafe(32))'"


class WeakSecret(ValueError):
    """The secret is missing, short or uniform; the message names it and the fix."""


def check_secret(secret: bytes, what: str) -> bytes:
    """Return `secret` if it is strong enough, else raise WeakSecret naming `what` and how to fix it."""
    if not secret:
        raise WeakSecret(f"{what} is required and empty; {MAKE_ONE}")
    if len(secret) < MIN_SECRET_BYTES:
        raise WeakSecret(f"{what} is {len(secret)} bytes; it must be at least {MIN_SECRET_BYTES}: {MAKE_ONE}")
    if len(set(secret)) < MIN_DISTINCT:
        raise WeakSecret(
            f"{what} uses only {len(set(secret))} distinct characters, not a random secret: {MAKE_ONE}"
        )
    return secret

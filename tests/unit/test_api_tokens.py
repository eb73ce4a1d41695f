"""API tokens and secrets: lifetimes capped at 30 days, revocable through a file every process reads, weak
or exposed secrets refused at start-up with the fix, secret files private from the first byte."""

from __future__ import annotations

import json
import secrets
import stat
from pathlib import Path

import orjson
import pytest
import typer
from typer.testing import CliRunner

from touchstream.adapters.api.auth import (
    MAX_TOKEN_TTL_S,
    REVOKED_FILE,
    SECRET_FILE,
    TOKEN_PREFIX,
    RevocationList,
    TokenError,
    TokenSigner,
    _b64,
    load_secret,
)
from touchstream.adapters.cli import api as cli_api
from touchstream.adapters.secret_checks import WeakSecret

SECRET = secrets.token_urlsafe(32).encode()
DAY = 86400


def test_a_token_lives_at_most_30_days() -> None:
    signer = TokenSigner(SECRET)
    assert signer.verify(signer.mint("sales", "al", MAX_TOKEN_TTL_S)).role.name == "sales"
    with pytest.raises(ValueError, match="at most 30 days"):
        signer.mint("sales", "al", 100_000 * DAY)
    # A long-lived token signed with the right key (an older release minted them) is not accepted either.
    body = {"role": "admin", "sub": "old", "iat": 1_000, "exp": 1_000 + 31 * DAY, "jti": "x"}
    payload = _b64(orjson.dumps(body, option=orjson.OPT_SORT_KEYS))
    long_lived = f"{TOKEN_PREFIX}{payload}.{signer._sign(payload)}"
    with pytest.raises(TokenError, match="longer than 30 days"):
        signer.verify(long_lived, now=2_000)


def test_a_revoked_token_is_refused_by_every_process_reading_the_list(tmp_path: Path) -> None:
    minting = TokenSigner(SECRET, revoked=RevocationList.in_dir(tmp_path))
    other_process = TokenSigner(SECRET, revoked=RevocationList.in_dir(tmp_path))
    leaked, kept = minting.mint("admin", "al", DAY), minting.mint("admin", "bo", DAY)
    assert other_process.verify(leaked).subject == "al"  # read before the revocation
    principal = minting.revoke(leaked)
    assert principal.token_id
    assert principal.token_id in (tmp_path / REVOKED_FILE).read_text()
    for signer in (minting, other_process):
        with pytest.raises(TokenError, match="revoked"):
            signer.verify(leaked)
        assert signer.verify(kept).subject == "bo"
    assert stat.S_IMODE((tmp_path / REVOKED_FILE).stat().st_mode) == 0o600
    with pytest.raises(TokenError, match="signature"):
        minting.revoke(leaked[:-2] + "xx")  # only genuine tokens are listed


def test_expired_entries_leave_the_list_when_it_is_written(tmp_path: Path) -> None:
    revoked = RevocationList.in_dir(tmp_path)
    revoked.revoke("old", expires_at=100, now=50)
    revoked.revoke("new", expires_at=10_000, now=200)
    assert (tmp_path / REVOKED_FILE).read_text() == "new 10000\n"


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("short", "5 bytes; it must be at least 32"),
        ("a" * 40, "only 1 distinct characters"),
        ("0123" * 10, "only 4 distinct characters"),
    ],
)
def test_a_weak_secret_is_refused_at_start_up_with_the_fix(tmp_path: Path, value: str, why: str) -> None:
    with pytest.raises(WeakSecret, match=why) as refused:
        load_secret(tmp_path, value)
    assert "TOUCHSTREAM_API_SECRET" in str(refused.value)
    assert "secrets.token_urlsafe(32)" in str(refused.value)
    with pytest.raises(WeakSecret, match=why):
        TokenSigner(value.encode())


def test_the_secret_file_is_made_private_and_refused_when_others_may_read_it(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    secret = load_secret(data_dir)
    path = data_dir / SECRET_FILE
    assert len(secret) >= 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
    assert load_secret(data_dir) == secret
    path.chmod(0o644)
    with pytest.raises(WeakSecret, match=f"chmod 600 {path}"):
        load_secret(data_dir)
    path.chmod(0o600)
    path.write_text("tiny\n")
    with pytest.raises(WeakSecret, match="delete it to have a new one made"):
        load_secret(data_dir)


def test_tokens_cli_caps_days_and_revokes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOUCHSTREAM_MODE", "embedded")
    monkeypatch.setenv("TOUCHSTREAM_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("TOUCHSTREAM_API_SECRET", SECRET.decode())
    app = typer.Typer()
    app.add_typer(cli_api.app, name="api")
    runner = CliRunner()
    too_long = runner.invoke(app, ["api", "tokens", "add", "--role", "sales", "--days", "31"])
    assert too_long.exit_code != 0
    minted = runner.invoke(app, ["api", "tokens", "add", "--role", "sales", "--format", "json"])
    assert minted.exit_code == 0, minted.output
    token = json.loads(minted.stdout)["token"]
    revoked = runner.invoke(app, ["api", "tokens", "revoke", "-"], input=token + "\n")
    assert revoked.exit_code == 0, revoked.output
    assert json.loads(minted.stdout)["token_id"] in (tmp_path / REVOKED_FILE).read_text()
    with pytest.raises(TokenError, match="revoked"):
        TokenSigner(SECRET, revoked=RevocationList.in_dir(tmp_path)).verify(token)
    again = runner.invoke(app, ["api", "tokens", "revoke", token])
    assert again.exit_code != 0
    assert "revoked: nothing to revoke" in again.output

"""The security headers over plain HTTP (in-process ASGI): on every answer of the API and the gateway, the
dashboard's inline code allowed by hash and nothing else inline, FastAPI's docs pages by their own hashes."""

from __future__ import annotations

import asyncio
import base64
import hashlib
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from unit.test_api_fixtures import signer, token

from touchstream.adapters.api.app import create_api
from touchstream.adapters.api.dashboard import render
from touchstream.adapters.gateway.app import create_gateway
from touchstream.adapters.gateway.auth import Keyring, add_key
from touchstream.adapters.gateway.dedup import SQLiteDedupStore
from touchstream.adapters.logs.sqlite_log import SQLiteEventLog
from touchstream.adapters.storage.chdb_store import ChDBStore
from touchstream.adapters.web.headers import content_security_policy, inline_hashes


def get(app: FastAPI, path: str, **kwargs: Any) -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return await client.get(path, **kwargs)

    return asyncio.run(go())


def sha256_source(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def assert_strict(response: httpx.Response) -> str:
    policy = response.headers["content-security-policy"]
    assert policy.startswith("default-src 'none';")
    assert "'unsafe-inline'" not in policy
    assert "'unsafe-eval'" not in policy
    assert "frame-ancestors 'none'" in policy
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"
    return policy


def test_inline_blocks_are_hashed_and_srcd_scripts_are_not() -> None:
    page = "<style>a{}</style><script>go()</script><script src='/x.js'></script><SCRIPT>go()</SCRIPT>"
    scripts, styles = inline_hashes(page)
    assert scripts == [sha256_source("go()")], "one hash per distinct inline script; src'd ones need none"
    assert styles == [sha256_source("a{}")]
    policy = content_security_policy(scripts, styles)
    assert f"script-src 'self' {scripts[0]};" in policy
    assert f"style-src 'self' {styles[0]};" in policy


def test_the_api_and_dashboard_send_the_headers(tmp_path: Path) -> None:
    app = create_api(lambda: ChDBStore(str(tmp_path / "chdb")), signer())
    dashboard = get(app, "/dashboard")
    assert dashboard.status_code == 200
    policy = assert_strict(dashboard)
    scripts, styles = inline_hashes(render())
    assert scripts
    assert styles
    for expression in (*scripts, *styles):
        assert expression in policy, "the dashboard's own inline code may run"
    assert inline_hashes(dashboard.text) == (scripts, styles), "and it is exactly what the page carries"
    refused = get(app, "/v1/me")  # no token: a JSON error, with the same headers
    assert refused.status_code == 401
    assert_strict(refused)
    me = get(app, "/v1/me", headers={"Authorization": f"Bearer {token('sales')}"})
    assert me.status_code == 200
    assert assert_strict(me) == policy
    docs = get(app, "/docs")
    docs_policy = assert_strict(docs)
    (docs_script,) = inline_hashes(docs.text)[0]
    assert docs_script in docs_policy
    assert docs_script not in policy, "the docs page's script is allowed on the docs page only"
    assert int(docs.headers["content-length"]) == len(docs.content)


def test_the_gateway_sends_the_headers(tmp_path: Path) -> None:
    keys = tmp_path / "keys.toml"
    add_key(keys, name="k", source="hubspot")
    dedup = SQLiteDedupStore()
    app = create_gateway(lambda: SQLiteEventLog(tmp_path / "log.sqlite"), Keyring.from_file(keys), dedup)
    try:
        for path in ("/healthz", "/metrics", "/openapi.json"):
            assert_strict(get(app, path))
        assert_strict(get(app, "/no-such-path"))
    finally:
        app.state.gateway.ingestor.close()
        dedup.close()


@pytest.mark.parametrize("path", ["/docs", "/redoc"])
def test_docs_pages_may_load_only_their_cdn(tmp_path: Path, path: str) -> None:
    app = create_api(lambda: ChDBStore(str(tmp_path / "chdb")), signer())
    policy = assert_strict(get(app, path))
    assert "https://cdn.jsdelivr.net" in policy

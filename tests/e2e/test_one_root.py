"""One composition root: every door and command, with nothing but the environment's settings, reads and
writes the same stores — and only under TOUCHSTREAM_DATA_DIR.

The commands run as a user types them (a subprocess of the installed CLI), so nothing of this test
process's state helps them agree.
"""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from pathlib import Path

import httpx
import pytest
from cli_process import settings_env, touchstream
from event_examples import wire_event

from touchstream.adapters.gateway.auth import add_key
from touchstream.adapters.gateway.compose import build_gateway

pytestmark = pytest.mark.timeout(300)


def clean_env(data_dir: Path, home: Path) -> dict[str, str]:
    """No TOUCHSTREAM_* setting but the data dir, and a fresh HOME."""
    env = settings_env(TOUCHSTREAM_DATA_DIR=str(data_dir))
    env["HOME"] = str(home)
    return env


def files_under(folder: Path) -> set[Path]:
    return {p for p in folder.rglob("*") if p.is_file()}


def test_events_posted_to_the_default_embedded_gateway_reach_the_360_view_after_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data, home, cwd = tmp_path / "data", tmp_path / "home", tmp_path / "cwd"
    for folder in (home, cwd):
        folder.mkdir()
    env = clean_env(data, home)
    for name in [k for k in os.environ if k.startswith("TOUCHSTREAM_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("TOUCHSTREAM_DATA_DIR", str(data))
    keys = tmp_path / "keys.toml"
    key, _ = add_key(keys, name="crm", source="hubspot")
    email = f"one-root-{uuid.uuid4().hex[:8]}@acme-widgets.com"
    events = [
        wire_event("EmailOpened", 1, event_id=str(uuid.uuid4()), identifiers={"email": email})
        for _ in range(3)
    ]

    async def post() -> httpx.Response:
        app = build_gateway(keys=keys)  # no --embedded-log, no --kafka: the settings decide
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw") as client:
            return await client.post(
                "/v1/events", content=json.dumps(events), headers={"Authorization": f"Bearer {key}"}
            )

    answer = asyncio.run(post())
    assert answer.status_code in (200, 202), answer.text
    ran = touchstream(env, cwd, "run")
    assert ran.returncode == 0, ran.stderr
    assert "3 raw records" in ran.stdout, ran.stdout
    shown = touchstream(env, cwd, "customer", "show", email, "--role", "sales", "--format", "json")
    assert shown.returncode == 0, shown.stderr
    card = json.loads(shown.stdout)
    assert email in json.dumps(card).lower()
    assert len(card["timeline"]) == 3, card["timeline"]


def test_no_state_command_writes_outside_the_data_dir(tmp_path: Path) -> None:
    data, home, cwd = tmp_path / "data", tmp_path / "home", tmp_path / "cwd"
    for folder in (home, cwd):
        folder.mkdir()
    env = clean_env(data, home)
    commands = [
        ("db", "migrate"),
        ("run",),
        ("stewards", "list"),
        ("dlq", "list"),
        ("sql", "SELECT count() FROM touchpoints"),
        ("customer", "show", "nobody@example.com", "--role", "sales"),
        ("topics", "list", "--offline"),
    ]
    for command in commands:
        touchstream(env, cwd, *command)  # an unknown customer may fail; it must still write nothing else
        assert files_under(cwd) == set(), (command, files_under(cwd))
        assert files_under(home) == set(), (command, files_under(home))
    assert (data / "master-record.sqlite").exists()
    assert (data / "chdb").is_dir()

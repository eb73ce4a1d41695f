"""The query API's composition root: `bootstrap()` in, an app wired to the chosen read store and feed out.

Embedded mode reads chDB in the data folder and feeds the dashboard by polling the embedded topic logs;
production reads the ClickHouse server and consumes the topics from Kafka (aiokafka). Roles come from the
built-in set plus an optional TOML file (`[roles.<name>]`, see docs/roles.md).
"""

from __future__ import annotations

import logging
import threading
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from ...projections.roles import ROLES, Role, RoleConfigError, roles_from_mapping
from ...streams.feed_port import FeedSource
from ...streams.ports import AbstractEventLog, AbstractReadStore
from ..bootstrap import Runtime, bootstrap
from ..logs.topics import open_log
from .app import ApiSettings, create_api
from .auth import RevocationList, TokenSigner, load_secret
from .feed import EmbeddedLogSource, FeedHub, KafkaSource
from .queries import OwnerOf
from .sql_door import chdb_door, open_door_store

log = logging.getLogger(__name__)


def load_roles(path: Path | None) -> dict[str, Role]:
    """The built-in roles, plus (or redefined by) the `[roles.<name>]` tables of a TOML file."""
    if path is None:
        return dict(ROLES)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise RoleConfigError(f"{path}: not valid TOML: {exc}") from None
    tables = data.get("roles", {})
    if not isinstance(tables, dict):
        raise RoleConfigError(f"{path}: `roles` must be a table of tables ([roles.<name>])")
    return roles_from_mapping(tables)


def signer_for(runtime: Runtime, roles_file: Path | None = None) -> TokenSigner:
    data_dir = runtime.settings.data_dir
    secret = load_secret(data_dir, runtime.settings.api_secret)
    roles = load_roles(roles_file or runtime.settings.api_roles_file)
    return TokenSigner(secret, roles, RevocationList.in_dir(data_dir))


def feed_source(runtime: Runtime) -> FeedSource:
    if runtime.settings.embedded:
        return EmbeddedLogSource(runtime.log)
    return KafkaSource(runtime.settings.kafka_bootstrap, prefix=runtime.settings.topic_prefix)


def master_record_owner_of(runtime: Runtime) -> OwnerOf:
    """`MasterRecord.owner_of` as the API's external-id lookup, opened on first use (one per process)."""
    lock = threading.Lock()
    opened: list[Any] = []

    def owner_of(key: str) -> str | None:
        try:
            with lock:
                if not opened:
                    opened.append(runtime.open_master_record())
                found = opened[0].owner_of(key)
        except Exception as exc:  # the master record is down: answer from the read models alone
            log.warning("external-id lookup in the master record failed: %s", exc)
            return None
        return str(found) if found is not None else None

    return owner_of


def build_api(runtime: Runtime | None = None, *, roles_file: Path | None = None) -> FastAPI:
    runtime = runtime or bootstrap()
    return create_api(
        runtime.read_store,
        signer_for(runtime, roles_file),
        feed=FeedHub(feed_source(runtime)),
        settings=ApiSettings(default_region=runtime.settings.default_region),
        owner_of=master_record_owner_of(runtime),
        open_door=lambda: open_door_store(runtime),
    )


def embedded_api(
    open_store: Callable[[], AbstractReadStore],
    log_dir: Path,
    signer: TokenSigner,
    *,
    prefix: str = "",
    poll_s: float = 0.1,
) -> FastAPI:
    """An API over a given store factory whose feed polls the embedded topic logs in `log_dir` (the demo,
    the browser test). Pair it with `feed.topic_publisher(embedded_topic_log(log_dir))` as the runner's
    `publish=`."""
    source = EmbeddedLogSource(embedded_topic_log(log_dir, prefix), poll_s=poll_s)
    return create_api(open_store, signer, feed=FeedHub(source), open_door=lambda: chdb_door(open_store()))


def embedded_topic_log(log_dir: Path, prefix: str = "") -> Callable[[str], AbstractEventLog]:
    def opener(topic: str) -> AbstractEventLog:
        return open_log(topic, prefix=prefix, embedded_dir=log_dir)

    return opener


def serve_embedded_dashboard(
    open_store: Callable[[], AbstractReadStore],
    log_dir: Path,
    *,
    host: str = "127.0.0.1",
    port: int = 8081,
    role: str = "admin",
    prefix: str = "",
    echo: Callable[[str], None] = print,
) -> None:
    """Serve the API and dashboard in this process (the end of `touchstream demo`): a fresh secret, one
    token for `role`, the sign-in URL printed, then serve until interrupted."""
    import secrets

    from ..web.server import serve

    signer = TokenSigner(secrets.token_urlsafe(32).encode())
    app = embedded_api(open_store, log_dir, signer, prefix=prefix)
    token = signer.mint(role, "demo", 7 * 86400)
    echo(f"Dashboard ({role}): http://{host}:{port}/dashboard#token={token}  (Ctrl-C stops it)")
    serve(app, host=host, port=port, log_level="warning")

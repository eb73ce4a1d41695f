"""`touchstream up`: the embedded default as one process a newcomer can live in.

It runs, until Ctrl-C:
- the pipeline, following the embedded `touchpoints.raw` log (resolve, then project into chDB, feeding
  `customer360.changes` and `signals.*` for the dashboard), on a thread of its own;
- the ingestion gateway (its own port), with a local key kept in the data folder (0600) and printed;
- the query API and the dashboard (another port), with a token printed in the dashboard's URL.

Everything lives under TOUCHSTREAM_DATA_DIR, laid out by the composition root exactly as `touchstream run`,
`import`, `stewards`, `dlq` and the gateway expect it. Ctrl-C (or SIGTERM) stops the servers, lets the
pipeline finish the batch in hand (positions are committed only after its rows are written, so nothing is
lost either way) and exits.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import typer

from ..bootstrap import Runtime

log = logging.getLogger("touchstream.up")
LOCAL_KEY_NAME = "local"


@dataclass
class PipelineLoop:
    """The embedded pipeline, followed on its own thread until `stop` is set."""

    runtime: Runtime
    poll_s: float = 0.5
    stop: threading.Event = field(default_factory=threading.Event)
    processed: int = 0
    ready: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        from ...streams.embedded import RESOLVE_GROUP
        from ..api.feed import topic_publisher
        from ..storage.migrate import prepare_read_store

        runtime = self.runtime
        publish = topic_publisher(runtime.log)
        with (
            runtime.read_store() as store,
            runtime.embedded_pipeline(store) as pipeline,
        ):
            prepare_read_store(store)
            self.ready.set()
            while not self.stop.is_set():
                try:
                    if pipeline.raw.lag(RESOLVE_GROUP):
                        self.processed += pipeline.resolve_until_caught_up().records
                    projected = pipeline.project_until_caught_up(publish=publish)
                except Exception as exc:  # keep serving; say why the pipeline waits, then try again
                    log.warning("pipeline batch failed, retrying: %s: %s", type(exc).__name__, exc)
                    self.stop.wait(self.poll_s * 4)
                    continue
                if not projected.records:
                    self.stop.wait(self.poll_s)


def local_key(data_dir: Path) -> tuple[Path, str]:
    """The gateway's keys file in the data folder, and the local key to publish with: made on first use
    (its hash in the keys file, the key itself in a 0600 file beside it, for this machine's user only)."""
    from ..gateway.auth import add_key

    keys, secret_file = data_dir / "gateway-keys.toml", data_dir / "gateway-local.key"
    if secret_file.exists():
        return keys, secret_file.read_text(encoding="utf-8").strip()
    key, _ = add_key(keys, name=LOCAL_KEY_NAME, source="local")
    secret_file.touch(mode=0o600)
    secret_file.write_text(key + "\n", encoding="utf-8")
    return keys, key


MARKER = "up.json"


def write_marker(data_dir: Path, api_url: str) -> Path:
    """Tell other commands of this data folder where the running process answers: while it holds chDB,
    they ask its API instead (tokens are minted with the data folder's own API secret)."""
    import os

    import orjson

    path = data_dir / MARKER
    path.touch(mode=0o600)
    path.write_bytes(orjson.dumps({"api": api_url, "pid": os.getpid()}))
    return path


def running_api(data_dir: Path) -> str | None:
    """The API of a `touchstream up` serving this data folder, if one is running."""
    import os

    import orjson

    try:
        found = orjson.loads((data_dir / MARKER).read_bytes())
        os.kill(int(found["pid"]), 0)  # still alive (signal 0 only checks)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return str(found["api"])


def _quiet_server(app: Any, host: str, port: int) -> Any:
    """A uvicorn server whose signals are ours: two servers in one process must stop together."""
    import contextlib

    import uvicorn

    from ..web.server import ServerLimits, _config

    class Server(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Any:
            yield

    return Server(_config(app, host, port, "warning", ServerLimits()))


def up(
    host: Annotated[str, typer.Option(help="address to listen on (loopback by default)")] = "127.0.0.1",
    gateway_port: Annotated[int, typer.Option(help="the ingestion gateway's port")] = 8080,
    api_port: Annotated[int, typer.Option(help="the query API's and dashboard's port")] = 8081,
    role: Annotated[str, typer.Option(help="the dashboard token's role")] = "admin",
) -> None:
    """Run the embedded pipeline, the gateway, the query API and the dashboard in one process.

    Prints the dashboard's URL and the key to publish with, then follows the log until Ctrl-C. Other
    commands (`customer show`, `stewards list`, `dlq list`, `import`) work from another terminal meanwhile.
    Example: `touchstream up`, then `touchstream import events.jsonl` in another terminal.
    """
    from ..api.compose import build_api, signer_for
    from ..bootstrap import bootstrap
    from ..gateway.compose import build_gateway

    runtime = bootstrap()
    if not runtime.settings.embedded:
        raise typer.BadParameter(
            "`up` runs the embedded default; in production run the worker, relay and servers"
        )
    data = runtime.settings.data_dir
    data.mkdir(parents=True, exist_ok=True, mode=0o700)
    runtime.prepare_master_record()
    keys, key = local_key(data)
    loop_ = PipelineLoop(runtime)
    worker = threading.Thread(target=loop_.run, name="touchstream-pipeline", daemon=True)
    worker.start()
    if not loop_.ready.wait(120):
        raise typer.BadParameter("the pipeline did not start (is another process holding the data folder?)")
    servers = [
        _quiet_server(build_gateway(keys=keys), host, gateway_port),
        _quiet_server(build_api(runtime), host, api_port),
    ]

    def announce() -> None:
        token = signer_for(runtime).mint(role, "touchstream-up", 7 * 86400)
        # Plain writes, not rich: a console must not wrap the URL into two unclickable halves.
        typer.echo(f"data folder: {data}")
        typer.echo(f"dashboard ({role}):")
        typer.echo(f"http://{host}:{api_port}/dashboard#token={token}")
        typer.echo(
            f'publish to http://{host}:{gateway_port}/v1/events (events with "source": "local") with the key:'
        )
        typer.echo(key)
        typer.echo("Ctrl-C stops; positions are committed, nothing is lost")

    async def serve_all() -> None:
        loop = asyncio.get_running_loop()

        def stop() -> None:
            for server in servers:
                server.should_exit = True
            loop_.stop.set()

        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop)
        serving = asyncio.gather(*(server.serve() for server in servers))
        # The URL and the key are printed once both servers listen: whoever reads them may connect at once.
        while not all(server.started for server in servers) and not serving.done():
            await asyncio.sleep(0.05)
        if not serving.done():
            announce()
        await serving

    marker = write_marker(data, f"http://{host}:{api_port}")
    try:
        asyncio.run(serve_all())
    finally:
        marker.unlink(missing_ok=True)
        loop_.stop.set()
        worker.join(timeout=60)
    typer.echo(f"stopped after {loop_.processed} records; `touchstream up` continues from here")

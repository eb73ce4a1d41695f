"""The Faust worker's entry module: `faust -A touchstream.adapters.worker_app worker`.

Its module-level `app` is built on first access by the composition root from the one `Settings`: the
topology of `streams/faust_app.py` with the production adapters (ClickHouse server, the master record on
PostgreSQL, the webhook when configured). Nothing connects until the worker starts.
"""

from __future__ import annotations

from typing import Any

import faust

from ..streams.erasure import Eraser
from ..streams.faust_agents import Resources
from ..streams.faust_app import FaustOutbox, WorkerSettings, create_app
from ..streams.ports import ContactLinker, Forwarder
from ..streams.resolve import Resolver
from ..streams.topology import DLQ, MASTERDATA, RAW, RESOLVED, topic_name
from .bootstrap import Runtime, bootstrap, codec_for, eraser_for
from .config import Settings
from .master_record.identity_config import phone_regions


def worker_settings(settings: Settings) -> WorkerSettings:
    return WorkerSettings(
        kafka_bootstrap=settings.kafka_bootstrap,
        data_dir=settings.data_dir,
        topic_prefix=settings.topic_prefix,
        worker_id=settings.worker_id,
        batch_size=settings.worker_batch,
        batch_within_s=settings.worker_batch_within_s,
        faust_datadir=settings.worker_datadir,
        metrics_every_s=settings.worker_metrics_every_s,
        state_cache_mb=settings.state_cache_mb,
        account_signals_every_s=settings.worker_account_signals_every_s,
    )


def production_resources(runtime: Runtime, outbox: FaustOutbox) -> Resources:
    """The real adapters, each opened on first use on the worker's own thread for it."""
    settings = runtime.settings

    def master_record() -> Resolver:
        from .master_record.application import MasterRecord

        return MasterRecord.from_url(runtime.master_record_url(), settings=settings)

    webhook = None
    if settings.webhook_url:
        from .master_record.webhook import WebhookConfig, WebhookForwarder, WebhookSender

        config = WebhookConfig(settings.webhook_url, settings.webhook_secret.encode())

        def webhook() -> Forwarder:
            return WebhookForwarder(WebhookSender(config))

    def linker(master: Resolver) -> ContactLinker:
        from .master_record.application import MasterRecord
        from .master_record.linkage import Linker

        assert isinstance(master, MasterRecord)
        return Linker.open(master, settings)

    def eraser() -> Eraser:
        from .master_record.application import MasterRecord

        app = MasterRecord.from_url(runtime.master_record_url(), settings=settings)
        return eraser_for(settings, app, runtime.read_store())

    return Resources(
        read_store=runtime.read_store,
        master_record=master_record,
        outbox=outbox,
        webhook=webhook,
        regions=phone_regions(settings),
        raw_topic=topic_name(RAW, settings.topic_prefix),
        raw_codec=codec_for(RAW, settings),
        resolved_codec=codec_for(RESOLVED, settings),
        dlq_codec=codec_for(DLQ, settings),
        masterdata_codec=codec_for(MASTERDATA, settings),
        eraser=eraser,
        linker=linker if settings.linkage_incremental else None,
        raw_log=lambda: runtime.log(RAW),
    )


def build_app(runtime: Runtime | None = None) -> faust.App:
    from .gc_pace import pace_garbage_collector
    from .log_privacy import mask_every_record

    mask_every_record()  # the worker is started by `faust -A`, not through the CLI's main
    pace_garbage_collector()
    runtime = runtime or bootstrap()
    return create_app(worker_settings(runtime.settings), lambda outbox: production_resources(runtime, outbox))


_app: faust.App | None = None


def __getattr__(name: str) -> Any:
    """`app` for `faust -A touchstream.adapters.worker_app`: built from the environment on first access."""
    global _app
    if name == "app":
        if _app is None:
            _app = build_app()
        return _app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

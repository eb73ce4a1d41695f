"""What every route of the query API shares: its settings, the refusal it answers with, the read-store
pools, the pseudonym index and `QueryApi`, the per-app state the routers close over.

Building any of these connects to nothing: stores are opened on first use.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from ...projections.roles import Shaper, is_pseudonym, pseudonym
from ...streams.ports import AbstractReadStore, ReadStoreError
from .auth import Principal, TokenError, TokenSigner
from .feed import FeedHub
from .queries.search import OwnerOf


@dataclass(frozen=True)
class ApiSettings:
    default_region: str = "US"
    pool_size: int = 4
    max_limit: int = 1000
    heartbeat_s: float = 15.0
    title: str = "Touchstream query API"


class Refusal(Exception):
    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers or {}


AUTH_HEADERS = {"WWW-Authenticate": 'Bearer realm="touchstream-api"'}


class StorePool:
    """Read stores for the request threads: each used by one thread at a time, opened on demand."""

    def __init__(self, open_store: Callable[[], AbstractReadStore], size: int) -> None:
        self._open = open_store
        self._idle: queue.LifoQueue[AbstractReadStore] = queue.LifoQueue()
        self._slots = threading.BoundedSemaphore(size)
        self._all: list[AbstractReadStore] = []
        self._lock = threading.Lock()

    @contextmanager
    def borrow(self) -> Iterator[AbstractReadStore]:
        if not self._slots.acquire(timeout=60):
            raise Refusal(503, "unavailable", "every read-store connection is busy; retry shortly")
        try:
            try:
                store = self._idle.get_nowait()
            except queue.Empty:
                try:
                    store = self._open()
                except ReadStoreError as exc:
                    raise Refusal(503, "unavailable", f"the read store is unavailable: {exc.detail}") from exc
                with self._lock:
                    self._all.append(store)
            broken = False
            try:
                yield store
            except ReadStoreError:
                broken = True
                raise
            finally:
                if broken and not _alive(store):
                    with self._lock:
                        if store in self._all:
                            self._all.remove(store)
                    store.close()
                else:
                    self._idle.put(store)
        finally:
            self._slots.release()

    def close(self) -> None:
        """Close every store; the pool opens new ones if it is used again."""
        with self._lock:
            stores, self._all = self._all, []
            while True:
                try:
                    self._idle.get_nowait()
                except queue.Empty:
                    break
        for store in stores:
            store.close()


def _alive(store: AbstractReadStore) -> bool:
    try:
        store.query("SELECT 1")
    except ReadStoreError:
        return False
    return True


class PseudonymIndex:
    """Pseudonym -> identity for the ids the API hands to pseudonymizing roles. HMAC cannot be reversed, so
    a pseudonym never seen is looked up by hashing the known ids (at most once per `refresh_s`)."""

    def __init__(self, key: bytes, refresh_s: float = 10.0) -> None:
        self.key = key
        self._known: dict[str, str] = {}
        self._refreshed = 0.0
        self._refresh_s = refresh_s
        self._lock = threading.Lock()

    def remember(self, value: str) -> str:
        alias = pseudonym(self.key, value)
        if alias:
            with self._lock:
                self._known[alias] = value
        return alias

    def resolve(self, store: AbstractReadStore, alias: str) -> str | None:
        if not is_pseudonym(alias):
            return None
        with self._lock:
            if alias in self._known:
                return self._known[alias]
            if time.monotonic() - self._refreshed < self._refresh_s:
                return None
            self._refreshed = time.monotonic()
        rows = store.query(
            "SELECT DISTINCT contact_id FROM customer_360 "
            "UNION ALL SELECT DISTINCT account_id FROM customer_360"
        )
        found = {pseudonym(self.key, str(r[0])): str(r[0]) for r in rows if r[0]}
        with self._lock:
            self._known.update(found)
            return self._known.get(alias)


class QueryApi:
    """Per-app state; routes call its methods."""

    def __init__(
        self,
        pool: StorePool,
        signer: TokenSigner,
        feed: FeedHub | None,
        settings: ApiSettings,
        owner_of: OwnerOf | None = None,
        door: StorePool | None = None,
    ) -> None:
        self.owner_of = owner_of
        self.door = door
        self.pool = pool
        self.signer = signer
        self.feed = feed
        self.settings = settings
        self.pseudonyms = PseudonymIndex(signer.pseudonym_key)

    def authenticate(self, token: str | None) -> Principal:
        try:
            return self.signer.verify(token)
        except TokenError as exc:
            raise Refusal(401, "unauthorized", str(exc), AUTH_HEADERS) from None

    def shaper(self, principal: Principal) -> Shaper:
        return Shaper(principal.role, self.signer.pseudonym_key)

    def real_id(self, store: AbstractReadStore, principal: Principal, ref: str, what: str) -> str:
        """The id behind `ref`: a pseudonymizing role names contacts and accounts by pseudonym only."""
        if not principal.role.pseudonymize:
            return ref
        real = self.pseudonyms.resolve(store, ref)
        if real is None:
            raise Refusal(404, "not_found", f"no {what} has the pseudonym {ref!r}")
        return real

    def remember_ids(self, principal: Principal, rows: list[dict[str, Any]]) -> None:
        if principal.role.pseudonymize:
            for row in rows:
                for column in ("contact_id", "account_id"):
                    if row.get(column):
                        self.pseudonyms.remember(str(row[column]))

"""A small Python client for the query API: pydantic models out, and pandas DataFrames for the lists
an analyst charts (only when pandas is importable; chDB already brings it).

    from .client import TouchstreamClient

    with TouchstreamClient("http://127.0.0.1:8081", token) as api:
        jane = api.search("jane@acme.com")[0]
        view = api.customer(jane.contact_id)          # the 360 view as your role sees it
        for touch in api.timeline(jane.contact_id, departments=["support"]):
            print(touch.occurred_at, touch.summary)
        nps = api.frame("nps", since="2026-01-01")    # a DataFrame

Fields outside the token's role are absent from the answers, so on the models they are unset
(`model_dump(exclude_unset=True)` shows exactly what came).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

import httpx
from pydantic import BaseModel

from ..api.models import (
    ROW_MODELS,
    AccountAnswer,
    Customer360,
    Me,
    SearchAnswer,
    SearchResult,
    TimelineItem,
    TimelinePage,
)

if TYPE_CHECKING:
    import pandas

# The lists by name (as in `queries.LISTS`) and their paths.
LIST_PATHS: dict[str, str] = {
    "pipeline": "/v1/pipeline",
    "stage_transitions": "/v1/pipeline/transitions",
    "forecast": "/v1/forecast",
    "funnel": "/v1/funnel",
    "campaigns": "/v1/campaigns",
    "attribution": "/v1/campaigns/attribution",
    "tickets": "/v1/support/tickets",
    "sla": "/v1/support/sla",
    "complaints": "/v1/support/complaints",
    "csat": "/v1/satisfaction/csat",
    "nps": "/v1/satisfaction/nps",
    "data_quality": "/v1/data-quality",
    "signals": "/v1/signals",
}


class ApiClientError(Exception):
    """A refused request: `status` (401, 403, 404, …), the API's `error` code and `message`."""

    def __init__(self, status: int, error: str, message: str) -> None:
        super().__init__(f"{status} {error}: {message}")
        self.status, self.error, self.message = status, error, message


class TouchstreamClient:
    def __init__(
        self, base_url: str, token: str, *, timeout: float = 30.0, http: httpx.Client | None = None
    ) -> None:
        """`http` lets tests pass an in-process client (e.g. FastAPI's TestClient); the token is sent with
        every request either way."""
        self._own = http is None
        self._http = http or httpx.Client(base_url=base_url, timeout=timeout)
        self._headers = {"Authorization": f"Bearer {token}"}

    def _get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        return self._answer(self._http.get(path, params=params, headers=self._headers))

    def _answer(self, answer: httpx.Response) -> Any:
        if answer.status_code != 200:
            try:
                body = answer.json()
            except ValueError:
                body = {}
            raise ApiClientError(
                answer.status_code, str(body.get("error", "error")), str(body.get("message", ""))
            )
        return answer.json()

    def get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        """The JSON answer of any GET, as sent (what the CLI renders, so both its paths print alike)."""
        return self._get(path, params)

    def sql(self, statement: str, *, role: str | None = None) -> tuple[list[str], list[list[Any]]]:
        """One read-only query through the API's SQL door: (columns, rows) with JSON values. `role` runs
        it as a narrower role (only an admin token may ask)."""
        request = {"sql": statement} | ({"role": role} if role else {})
        body = self._answer(self._http.post("/v1/sql", json=request, headers=self._headers))
        return list(body["columns"]), [list(row) for row in body["rows"]]

    def me(self) -> Me:
        return Me.model_validate(self._get("/v1/me"))

    def search(self, query: str, *, kind: str = "auto", limit: int = 10) -> list[SearchResult]:
        answer = SearchAnswer.model_validate(
            self._get("/v1/customers/search", {"q": query, "kind": kind, "limit": limit})
        )
        return answer.results

    def customer(self, contact_id: str) -> BaseModel:
        """The 360 view (a `Customer360`): sections outside the role are unset."""
        return Customer360.model_validate(self._get(f"/v1/customers/{contact_id}"))

    def timeline_page(
        self,
        contact_id: str,
        *,
        departments: Sequence[str] = (),
        types: Sequence[str] = (),
        limit: int = 50,
        cursor: str | None = None,
    ) -> TimelinePage:
        params: dict[str, Any] = {"limit": limit, "department": list(departments), "type": list(types)}
        if cursor:
            params["cursor"] = cursor
        return TimelinePage.model_validate(self._get(f"/v1/customers/{contact_id}/timeline", params))

    def timeline(
        self,
        contact_id: str,
        *,
        departments: Sequence[str] = (),
        types: Sequence[str] = (),
        page_size: int = 100,
    ) -> Iterator[BaseModel]:
        """Every touchpoint of the customer, newest first, following the cursors page by page."""
        cursor: str | None = None
        while True:
            page = self.timeline_page(
                contact_id, departments=departments, types=types, limit=page_size, cursor=cursor
            )
            yield from page.items
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    def account(self, account_id: str, *, contacts: int = 100) -> AccountAnswer:
        return AccountAnswer.model_validate(self._get(f"/v1/accounts/{account_id}", {"contacts": contacts}))

    def rows(self, name: str, *, limit: int = 1000, offset: int = 0, **filters: Any) -> list[BaseModel]:
        """One list (`LIST_PATHS`: pipeline, forecast, funnel, campaigns, tickets, nps, …) as row models.
        Filters are the list's query parameters (`status="open"`, `since="2026-01-01"`, …)."""
        if name not in LIST_PATHS:
            raise ValueError(f"unknown list {name!r}; known: {', '.join(LIST_PATHS)}")
        params = {k: v for k, v in filters.items() if v is not None} | {"limit": limit, "offset": offset}
        model = ROW_MODELS[name]
        return [model.model_validate(row) for row in self._get(LIST_PATHS[name], params)["rows"]]

    def frame(self, name: str, **filters: Any) -> pandas.DataFrame:
        """The same list as a pandas DataFrame (columns as the role sees them); needs pandas."""
        try:
            import pandas
        except ImportError as exc:  # pragma: no cover - chDB brings pandas
            raise RuntimeError("DataFrames need pandas: pip install pandas") from exc
        records = [row.model_dump(exclude_unset=True) for row in self.rows(name, **filters)]
        return pandas.DataFrame.from_records(records)

    def close(self) -> None:
        if self._own:
            self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


__all__ = ["LIST_PATHS", "ApiClientError", "TimelineItem", "TouchstreamClient"]

"""The departmental lists (GET /v1/pipeline, /v1/support/tickets, /v1/signals …): one route a list of
`queries.lists.LISTS`, its query parameters made from the list's filters and period, rows shaped by the
role. /v1/signals answers only the departments the role hears."""

from __future__ import annotations

import inspect
from datetime import date
from typing import Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response

from ....streams.ports import AbstractReadStore
from ..auth import Principal
from ..models import LIST_MODELS
from ..queries.lists import LISTS, ViewSpec, list_view
from ..state import QueryApi
from .access import errors, json_response, require

LIST_ROUTES: tuple[tuple[str, str, str, str], ...] = (
    ("/v1/pipeline", "pipeline", "pipeline", "Sales pipeline: one row per opportunity"),
    ("/v1/pipeline/transitions", "stage_transitions", "pipeline", "Stage transitions by month"),
    ("/v1/forecast", "forecast", "forecast", "Open pipeline by quarter, owner and currency (weighted)"),
    ("/v1/funnel", "funnel", "funnel", "Leads by month and source, and what became of them"),
    ("/v1/campaigns", "campaigns", "campaigns", "Campaign engagement"),
    ("/v1/campaigns/attribution", "attribution", "attribution", "Won revenue attributed to campaigns"),
    ("/v1/support/tickets", "tickets", "support", "Support tickets against their SLA"),
    ("/v1/support/sla", "sla", "support", "Tickets and SLA breaches by priority"),
    ("/v1/support/complaints", "complaints", "support", "Complaint themes by month"),
    ("/v1/satisfaction/csat", "csat", "satisfaction", "CSAT by month, product and account"),
    ("/v1/satisfaction/nps", "nps", "satisfaction", "NPS by month and account"),
    (
        "/v1/data-quality",
        "data_quality",
        "data_quality",
        "Data quality (CRM adoption) by source and department",
    ),
    ("/v1/signals", "signals", "signals", "Signals active now (for the departments the role hears)"),
)


def _parameters(api: QueryApi, spec: ViewSpec, endpoint: str) -> list[inspect.Parameter]:
    """The route's signature: the role check, paging, the period bounds and one parameter a filter."""
    params = [
        inspect.Parameter(
            "principal",
            inspect.Parameter.KEYWORD_ONLY,
            default=Depends(require(api, endpoint)),
            annotation=Principal,
        ),
        inspect.Parameter(
            "limit",
            inspect.Parameter.KEYWORD_ONLY,
            default=Query(100, ge=1, le=api.settings.max_limit),
            annotation=int,
        ),
        inspect.Parameter(
            "offset", inspect.Parameter.KEYWORD_ONLY, default=Query(0, ge=0, le=10_000_000), annotation=int
        ),
    ]
    if spec.period:
        for bound, text in (("since", "on or after this day"), ("until", "before this day")):
            params.append(
                inspect.Parameter(
                    bound,
                    inspect.Parameter.KEYWORD_ONLY,
                    default=Query(None, description=f"{spec.period} {text}"),
                    annotation=date | None,
                )
            )
    for column in spec.filters:
        params.append(
            inspect.Parameter(
                column,
                inspect.Parameter.KEYWORD_ONLY,
                default=Query(None, max_length=200, description=f"only rows whose {column} is this"),
                annotation=str | None,
            )
        )
    return params


def _filters(
    api: QueryApi,
    store: AbstractReadStore,
    principal: Principal,
    name: str,
    values: dict[str, Any],
) -> dict[str, str | list[str]]:
    """The request's filters, ids behind pseudonyms resolved; signals narrowed to what the role hears."""
    filters: dict[str, str | list[str]] = {}
    for column in LISTS[name].filters:
        value = values.get(column)
        if value is None:
            continue
        if column in ("contact_id", "account_id"):
            value = api.real_id(store, principal, value, column.split("_")[0])
        filters[column] = value
    if name == "signals":
        hears = sorted(principal.role.signal_departments)
        wanted = filters.get("department")
        filters["department"] = [d for d in hears if wanted is None or d == wanted]
    return filters


def _add_list_route(
    routes: APIRouter, api: QueryApi, path: str, name: str, endpoint: str, summary: str
) -> None:
    spec = LISTS[name]

    def handler(**values: Any) -> Response:
        principal: Principal = values["principal"]
        shaper = api.shaper(principal)
        with api.pool.borrow() as store:
            rows = list_view(
                store,
                name,
                _filters(api, store, principal, name, values),
                since=values.get("since"),
                until=values.get("until"),
                limit=values["limit"],
                offset=values["offset"],
            )
        api.remember_ids(principal, rows)
        shaped = [shaper.row(r) for r in rows]
        return json_response({"rows": shaped, "limit": values["limit"], "offset": values["offset"]})

    handler.__signature__ = inspect.Signature(_parameters(api, spec, endpoint))  # type: ignore[attr-defined]
    handler.__name__ = f"list_{name}"
    routes.get(
        path,
        response_model=LIST_MODELS[name],
        responses=errors(401, 403, 404, 503),
        summary=summary,
        description=f"Rows of the `{spec.view}` view (docs/queries.md), shaped by the caller's role: "
        "amount columns only for roles that see amounts; pseudonyms and no free text for analysts.",
        tags=["lists"],
    )(handler)


def router(api: QueryApi) -> APIRouter:
    routes = APIRouter()
    for path, name, endpoint, summary in LIST_ROUTES:
        _add_list_route(routes, api, path, name, endpoint, summary)
    return routes

"""A customer's touchpoints (GET /v1/customers/{contact_id}/timeline): newest first, cursor-paged,
filtered by department and type."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import Response

from ....events import Department
from ..auth import Principal
from ..models import TimelinePage
from ..queries.timeline import timeline
from ..state import QueryApi, Refusal
from .access import errors, json_response, require


def router(api: QueryApi) -> APIRouter:
    routes = APIRouter()
    timeline_access = require(api, "timeline")

    @routes.get(
        "/v1/customers/{contact_id}/timeline",
        response_model=TimelinePage,
        responses=errors(400, 401, 403, 404, 503),
        tags=["customers"],
        summary="A customer's touchpoints, newest first, with cursor paging and department filters",
    )
    def customer_timeline(
        contact_id: str = Path(..., min_length=1, max_length=200),
        department: list[Department] = Query(default_factory=list),  # noqa: B008
        event_type: list[str] = Query(default_factory=list, alias="type", max_length=20),  # noqa: B008
        limit: int = Query(50, ge=1, le=500),
        cursor: str | None = Query(
            None, max_length=400, pattern="^[A-Za-z0-9_-]+$", description="next_cursor of the previous page"
        ),
        principal: Principal = Depends(timeline_access),  # noqa: B008
    ) -> Response:
        shaper = api.shaper(principal)
        with api.pool.borrow() as store:
            real = api.real_id(store, principal, contact_id, "contact")
            try:
                items, next_cursor = timeline(
                    store,
                    real,
                    departments=[d.value for d in department],
                    types=event_type,
                    limit=limit,
                    cursor=cursor,
                )
            except ValueError as exc:
                raise Refusal(400, "bad_request", str(exc)) from None
        return json_response(
            {
                "contact_id": shaper.identity(real),
                "items": [shaper.timeline_item(i) for i in items],
                "next_cursor": next_cursor,
            }
        )

    return routes

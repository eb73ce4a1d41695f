"""A customer's 360 view (GET /v1/customers/{contact_id}), as the caller's role sees it."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Path
from fastapi.responses import Response

from ..auth import Principal
from ..models import Customer360
from ..queries.customers import profile_document
from ..state import QueryApi, Refusal
from .access import errors, json_response, require


def router(api: QueryApi) -> APIRouter:
    routes = APIRouter()
    customers = require(api, "customers")

    @routes.get(
        "/v1/customers/{contact_id}",
        response_model=Customer360,
        response_model_exclude_unset=True,
        responses=errors(401, 403, 404, 503),
        tags=["customers"],
        summary="The 360 view of a customer, as the caller's role sees it",
    )
    def customer(
        contact_id: str = Path(..., min_length=1, max_length=200),
        principal: Principal = Depends(customers),  # noqa: B008
    ) -> Response:
        """Sections and fields outside the role are absent (see GET /v1/me and docs/roles.md). A merged
        contact's id answers with the survivor's view."""
        with api.pool.borrow() as store:
            real = api.real_id(store, principal, contact_id, "contact")
            document = profile_document(store, real)
        if document is None:
            raise Refusal(404, "not_found", f"no customer {contact_id!r}")
        api.remember_ids(principal, [document])
        return json_response(api.shaper(principal).profile(document))

    return routes

"""An account (GET /v1/accounts/{account_id}): its roll-up and its contacts, shaped by the role."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import Response

from ..auth import Principal
from ..models import AccountAnswer
from ..queries.accounts import account_signals, account_view
from ..state import QueryApi, Refusal
from .access import errors, json_response, require


def router(api: QueryApi) -> APIRouter:
    routes = APIRouter()
    accounts = require(api, "accounts")

    @routes.get(
        "/v1/accounts/{account_id}",
        response_model=AccountAnswer,
        responses=errors(401, 403, 404, 503),
        tags=["accounts"],
        summary="An account: its roll-up, its contacts and its account-level signals",
    )
    def account(
        account_id: str = Path(..., min_length=1, max_length=200),
        contacts: int = Query(100, ge=1, le=1000),
        principal: Principal = Depends(accounts),  # noqa: B008
    ) -> Response:
        shaper = api.shaper(principal)
        with api.pool.borrow() as store:
            real = api.real_id(store, principal, account_id, "account")
            found = account_view(store, real, contacts)
            may_hear = found is not None and principal.role.may_read_view("active_account_signals")
            departments = principal.role.signal_departments if may_hear else frozenset()
            signals = account_signals(store, real, departments) if departments else []
        if found is None:
            raise Refusal(404, "not_found", f"no account {account_id!r}")
        api.remember_ids(principal, [found["rollup"], *found["contacts"]])
        people = [shaper.row(c) for c in found["contacts"]]
        answer = {"rollup": shaper.row(found["rollup"]), "contacts": people, "signals": signals}
        return json_response(answer)

    return routes

"""The SQL door over HTTP (POST /v1/sql): one read-only query, checked by adapters/api/sql_door.py, as the
caller's role (or, for an operator's token, a narrower role it names) may read."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import Response

from ....projections.roles import Role
from ....streams.ports import ReadStoreError
from ..auth import Principal
from ..models import SqlAnswer, SqlQuery
from ..queries.shared import jsonable
from ..state import QueryApi, Refusal
from .access import errors, json_response, require


def _reading_role(api: QueryApi, principal: Principal, asked: str | None) -> Role:
    role = principal.role
    if asked is not None and asked != role.name:
        # An operator's door (the CLI mints an admin token): read as the narrower role they name.
        if not role.sees_everything:
            raise Refusal(403, "forbidden", f"the {role.name} role may not run SQL as another role")
        if asked not in api.signer.roles:
            raise Refusal(400, "bad_request", f"unknown role {asked!r}")
        role = api.signer.roles[asked]
    return role


def router(api: QueryApi) -> APIRouter:
    routes = APIRouter()
    sql_access = require(api, "sql")

    @routes.post(
        "/v1/sql",
        response_model=SqlAnswer,
        responses=errors(400, 401, 403, 503),
        tags=["sql"],
        summary="One read-only query through the SQL door, as the caller's role may read",
    )
    def sql(
        body: SqlQuery,
        principal: Principal = Depends(sql_access),  # noqa: B008
    ) -> Response:
        """Parsed and allow-listed (adapters/api/sql_door.py): one SELECT over the views the role may read and
        only their columns it may see; no files, no table functions, no settings; the answer is capped.
        Runs as the read-only ClickHouse user (chDB: a read-only session). A refusal is 400 and says what
        was refused and why."""
        from ..sql_door import SqlRefused, run

        if api.door is None:
            raise Refusal(503, "unavailable", "this API serves no SQL door")
        role = _reading_role(api, principal, body.role)
        try:
            with api.door.borrow() as store:
                try:
                    columns, rows = run(store, body.sql, role)
                except SqlRefused as exc:
                    raise Refusal(400, "bad_request", f"refused: {exc}") from None
                except ReadStoreError as exc:
                    raise Refusal(400, "bad_request", f"the query failed: {exc.detail}") from None
        except SqlRefused as exc:  # the door's own connection was refused (not read-only, no password)
            raise Refusal(503, "unavailable", f"the SQL door is closed: {exc}") from None
        return json_response({"columns": columns, "rows": [[jsonable(v) for v in row] for row in rows]})

    return routes

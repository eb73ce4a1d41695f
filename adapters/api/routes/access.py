"""What the routers share: the bearer scheme, the role check, the documented refusals and the JSON answer."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
from fastapi import Depends
from fastapi.responses import Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from ..auth import Principal
from ..models import ApiError
from ..state import QueryApi, Refusal

bearer_scheme = HTTPBearer(
    auto_error=False, description="Authorization: Bearer <token> (`touchstream api tokens add`)"
)


def json_response(body: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(body), status, media_type="application/json")


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    text = {
        400: "a parameter is malformed (e.g. a cursor this API did not give out)",
        401: "no token, or not a valid one (forged, expired, unknown role)",
        403: "the token's role may not use this endpoint",
        404: "nothing with that id",
        503: "the read store is unavailable: retry shortly",
    }
    return {code: {"model": ApiError, "description": text[code]} for code in codes}


def require(api: QueryApi, endpoint: str) -> Callable[..., Principal]:
    def dependency(
        bearer: HTTPAuthorizationCredentials | None = Depends(bearer_scheme),  # noqa: B008
    ) -> Principal:
        principal = api.authenticate(bearer.credentials if bearer is not None else None)
        if not principal.role.may(endpoint):
            raise Refusal(
                403, "forbidden", f"the {principal.role.name} role may not use the {endpoint} endpoints"
            )
        return principal

    return dependency

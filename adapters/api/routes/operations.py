"""Operations: the process answers (GET /healthz), and who the token says you are (GET /v1/me)."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.security import HTTPAuthorizationCredentials

from ....projections.roles import SECTIONS
from ..models import Health, Me
from ..state import QueryApi
from .access import bearer_scheme, errors


def router(api: QueryApi) -> APIRouter:
    routes = APIRouter()

    @routes.get("/healthz", response_model=Health, tags=["operations"], summary="The process answers")
    def healthz() -> Health:
        return Health(status="ok")

    @routes.get(
        "/v1/me",
        response_model=Me,
        responses=errors(401),
        tags=["operations"],
        summary="Who the token says you are, and what your role sees",
    )
    def me(
        bearer: HTTPAuthorizationCredentials | None = Depends(bearer_scheme),  # noqa: B008
    ) -> Me:
        principal = api.authenticate(bearer.credentials if bearer is not None else None)
        role = principal.role
        return Me(
            role=role.name,
            subject=principal.subject,
            expires_at=principal.expires_at,
            pseudonymized=role.pseudonymize,
            sees_amounts=role.sees_amounts,
            sections=[s for s in SECTIONS if s in role.sections],
            fields=sorted(role.fields),
            endpoints=sorted(role.endpoints),
            signal_departments=sorted(role.signal_departments),
        )

    return routes

"""The dashboard page (GET /dashboard, and / redirects to it); the page itself is in
adapters/api/dashboard.py."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, RedirectResponse

from ..dashboard import render
from ..state import QueryApi


def router(api: QueryApi) -> APIRouter:
    routes = APIRouter()

    @routes.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        return RedirectResponse("/dashboard")

    @routes.get(
        "/dashboard",
        response_class=HTMLResponse,
        tags=["dashboard"],
        summary="The live dashboard (HTML; the token goes in the page, never in the URL sent to us)",
    )
    def dashboard() -> HTMLResponse:
        return HTMLResponse(render(api.settings.title))

    return routes

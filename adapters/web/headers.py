"""Security headers on every answer of the query API, the dashboard and the gateway.

- `Content-Security-Policy`: nothing loads unless named. Scripts and styles come from this origin or are
  inline blocks whose SHA-256 is listed; the hashes are taken from the trusted pages the app serves (the
  dashboard, rendered once from the code's own template), never from a response, so markup injected into
  an answer would not run. No inline event handlers, no `eval`, no framing, no plugins, no `<base>`.
- `X-Content-Type-Options: nosniff`: a JSON answer is never re-read as HTML or script.
- `Referrer-Policy: no-referrer`: URLs (which may carry a feed token) are not sent to other sites.

FastAPI's documentation pages (/docs, /redoc) load their scripts from a CDN and one inline bootstrap
script built from the app's own settings; they get the same policy plus that CDN and the hashes of their
own inline blocks.

A pure ASGI middleware (not Starlette's BaseHTTPMiddleware), so streamed answers such as the live feed
pass through unbuffered.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Callable, Iterable, MutableMapping
from typing import Any

from fastapi import FastAPI

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Any]
Send = Callable[[Message], Any]

# An inline <script> or <style> block without a src attribute (a src'd script is covered by 'self').
_INLINE = re.compile(r"<(script|style)(?![^>]*\bsrc=)[^>]*>(.*?)</\1\s*>", re.IGNORECASE | re.DOTALL)
DOCS_PATHS = frozenset({"/docs", "/redoc"})
DOCS_CDN = "https://cdn.jsdelivr.net"
DOCS_IMAGES = "https://fastapi.tiangolo.com"


def inline_hashes(html: str) -> tuple[list[str], list[str]]:
    """The CSP source expressions ('sha256-…') of the inline scripts and styles of `html`."""
    scripts: list[str] = []
    styles: list[str] = []
    for tag, text in _INLINE.findall(html):
        digest = base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode()
        (scripts if tag.lower() == "script" else styles).append(f"'sha256-{digest}'")
    return sorted(set(scripts)), sorted(set(styles))


def content_security_policy(
    scripts: Iterable[str] = (), styles: Iterable[str] = (), *, cdn: str | None = None, images: str = ""
) -> str:
    extra = f" {cdn}" if cdn else ""
    script_src = " ".join(["'self'", *scripts]) + extra
    style_src = " ".join(["'self'", *styles]) + extra
    return (
        f"default-src 'none'; script-src {script_src}; style-src {style_src}; "
        f"img-src 'self' data:{' ' + images if images else ''}; connect-src 'self'; font-src 'self'; "
        "base-uri 'none'; form-action 'self'; frame-ancestors 'none'; object-src 'none'"
    )


def _fixed_headers(policy: str) -> list[tuple[bytes, bytes]]:
    return [
        (b"content-security-policy", policy.encode()),
        (b"x-content-type-options", b"nosniff"),
        (b"referrer-policy", b"no-referrer"),
        (b"x-frame-options", b"DENY"),
        (b"cross-origin-opener-policy", b"same-origin"),
    ]


def _merge(headers: list[tuple[bytes, bytes]], ours: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """`ours` replace any of the same name the route set: one policy, the strict one."""
    names = {name for name, _ in ours}
    return [(k, v) for k, v in headers if k.lower() not in names] + ours


class SecurityHeaders:
    def __init__(
        self, app: Any, trusted_html: Callable[[], Iterable[str]] | None = None, docs: bool = True
    ) -> None:
        self.app = app
        self._trusted_html = trusted_html
        self._docs = docs
        self._headers: list[tuple[bytes, bytes]] | None = None

    def headers(self) -> list[tuple[bytes, bytes]]:
        # Built on first use: rendering the trusted pages at import or app build would cost every CLI run.
        if self._headers is None:
            scripts: set[str] = set()
            styles: set[str] = set()
            for html in self._trusted_html() if self._trusted_html is not None else ():
                found_scripts, found_styles = inline_hashes(html)
                scripts.update(found_scripts)
                styles.update(found_styles)
            self._headers = _fixed_headers(content_security_policy(sorted(scripts), sorted(styles)))
        return self._headers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self._docs and scope.get("path") in DOCS_PATHS:
            await self._docs_page(scope, receive, send)
            return
        ours = self.headers()

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = _merge(list(message.get("headers", [])), ours)
            await send(message)

        await self.app(scope, receive, with_headers)

    async def _docs_page(self, scope: Scope, receive: Receive, send: Send) -> None:
        """FastAPI's own documentation page, buffered (a few kB) to list the hashes of its inline blocks."""
        start: Message = {}
        body = bytearray()

        async def collect(message: Message) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
            elif message["type"] == "http.response.body":
                body.extend(message.get("body", b""))

        await self.app(scope, receive, collect)
        scripts, styles = inline_hashes(body.decode("utf-8", "replace"))
        policy = content_security_policy(scripts, styles, cdn=DOCS_CDN, images=DOCS_IMAGES)
        headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
        headers.append((b"content-length", str(len(body)).encode()))
        await send({**start, "headers": _merge(headers, _fixed_headers(policy))})
        await send({"type": "http.response.body", "body": bytes(body)})


def install_security_headers(app: FastAPI, trusted_html: Callable[[], Iterable[str]] | None = None) -> None:
    """Send the security headers on every answer of `app`; `trusted_html` returns the pages whose inline
    scripts and styles may run (called once, on the first request)."""
    app.add_middleware(SecurityHeaders, trusted_html=trusted_html)

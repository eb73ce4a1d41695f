"""The security headers in a real headless browser (Debian's chromium via Playwright), as
test_dashboard_browser.py runs it: the dashboard answers with a strict Content-Security-Policy, nosniff and
a Referrer-Policy, still works under that policy (no violation, no console error), and the browser really
enforces it: a script injected into the page does not run.

Chromium comes from deploy/local/browser.sh (apt). When it or Playwright is missing the test skips with
the reason - and fails under CI=true, where a skip would hide the missing proof.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from dedicated_servers import unavailable
from e2e.test_dashboard_browser import BROWSER_ARGS, chromium
from unit.test_api_fixtures import load_story, signer, token

from touchstream.adapters.api.compose import embedded_api
from touchstream.adapters.storage.chdb_store import ChDBStore
from touchstream.adapters.web.server import serving

# A listener installed before any page script: every CSP violation the page causes is recorded.
RECORD_VIOLATIONS = """
window.__violations = [];
document.addEventListener("securitypolicyviolation",
  (e) => window.__violations.push(e.violatedDirective + " " + (e.blockedURI || "inline")));
"""


@pytest.fixture(scope="module")
def api_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("headers")
    with ChDBStore(str(folder / "chdb")) as store:
        story = load_story(store, folder)
    api = embedded_api(lambda: ChDBStore(str(folder / "chdb")), story.topic_dir, signer(), poll_s=0.1)
    with serving(api) as url:
        yield url


@pytest.mark.timeout(180)
def test_the_dashboard_runs_under_a_strict_policy_the_browser_enforces(api_url: str) -> None:
    executable = chromium()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        unavailable(f"the playwright package is not installed: {exc}")
    console_errors: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, headless=True, args=BROWSER_ARGS)
        try:
            page = browser.new_page()
            page.add_init_script(RECORD_VIOLATIONS)
            page.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: console_errors.append(str(e)))
            response = page.goto(f"{api_url}/dashboard#token={token('support', 'sue')}")
            assert response is not None
            headers: dict[str, Any] = response.headers
            policy = headers["content-security-policy"]
            assert "default-src 'none'" in policy
            assert "'unsafe-inline'" not in policy
            assert "'unsafe-eval'" not in policy
            assert "frame-ancestors 'none'" in policy
            assert headers["x-content-type-options"] == "nosniff"
            assert headers["referrer-policy"] == "no-referrer"

            # The page works: its script ran, fetched the API, opened the live feed, drew its tables.
            page.wait_for_selector("#role:text('support')", timeout=15_000)
            page.wait_for_selector("#feed-status:text('live')", timeout=15_000)
            page.wait_for_selector("#quality-table tbody tr", timeout=15_000)
            assert page.evaluate("window.__violations") == []

            # The browser enforces the policy: an injected inline script is blocked, and reported.
            page.evaluate(
                """() => { const s = document.createElement("script");
                           s.textContent = "window.__injected = true;";
                           document.body.append(s); }"""
            )
            page.wait_for_function("window.__violations.length > 0", timeout=10_000)
            assert page.evaluate("window.__injected === undefined")
            assert page.evaluate("window.__violations")[0].startswith("script-src")
        finally:
            browser.close()
    blocked = [e for e in console_errors if "Content Security Policy" in e]
    assert len(blocked) == 1, console_errors  # only the injected script, nothing of the dashboard's own
    assert console_errors == blocked

"""HTML shells for the dashboard pages.

The pages are static shells filled by small JavaScript modules that call the JSON API, so the
server side needs no template engine: `string.Template` over files in `templates/`, with every
value HTML-escaped. Nothing here is inline script or style, which lets the pages carry a strict
Content-Security-Policy.

The scheduler's vocabulary (statuses, policies, states, schedule defaults) is defined once in
app/domain; every page that runs a script carries it as a JSON data block
(`<script type="application/json" id="vocabulary">`), which static/js/vocabulary.js reads. A
data block is not code: the browser never runs it, so `script-src 'self'` still holds.
"""

from __future__ import annotations

import json
from functools import cache
from html import escape
from pathlib import Path
from string import Template

from litestar import MediaType, Response
from litestar.datastructures import Cookie
from pydantic.alias_generators import to_camel

from app.domain.execution import FINAL_STATUSES, ORIGINS, STATUSES, UNFINISHED_STATUSES
from app.domain.schedule import MISFIRE_POLICIES, OVERLAP_POLICIES, SCHEDULE_DEFAULTS, STATES

PACKAGE_DIR = Path(__file__).parent
TEMPLATE_DIR = PACKAGE_DIR / "templates"
STATIC_DIR = PACKAGE_DIR / "static"
APP_NAME = "workflow-scheduler"

# Everything from our own origin, nothing inline, no framing. `img-src data:` is not needed;
# keeping the policy this tight is what "no CDN, no inline code" buys.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    # Pages show a tenant's data: never keep them in a shared cache or the back-forward cache
    # after logout.
    "Cache-Control": "no-store",
}


STATUS_ORDER = (
    "succeeded",
    "failed",
    "timed_out",
    "accepted",
    "running",
    "retrying",
    "pending",
    "skipped",
    "missed",
    "cancelled",
)
"""The order the dashboard lists statuses in (counts, legend): outcomes, runs in flight, then
slots never sent. Every status exactly once (tests/unit/test_vocabulary.py)."""


@cache
def vocabulary_json() -> str:
    """The vocabulary for the pages' JavaScript, as JSON that cannot close its element."""
    data = {
        "statuses": STATUSES,
        "statusOrder": STATUS_ORDER,
        "unfinished": UNFINISHED_STATUSES,
        "final": FINAL_STATUSES,
        "origins": ORIGINS,
        "states": STATES,
        "overlapPolicies": OVERLAP_POLICIES,
        "misfirePolicies": MISFIRE_POLICIES,
        "defaults": {to_camel(name): value for name, value in SCHEDULE_DEFAULTS.items()},
    }
    text = json.dumps(data, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


@cache
def _template(name: str) -> Template:
    return Template((TEMPLATE_DIR / name).read_text(encoding="utf-8"))


def _header(tenant: str | None) -> str:
    if tenant is None:
        return ""
    return _template("header.html").substitute(tenant=escape(tenant), app_name=APP_NAME)


def render_page(
    name: str,
    *,
    title: str,
    tenant: str | None,
    script: str | None = None,
    status_code: int = 200,
    cookies: list[Cookie] | None = None,
    **values: str,
) -> Response[str]:
    """The page `templates/<name>` inside the layout; `values` fill its `$placeholders`.

    `script` names a module in `static/js/` that drives the page (loaded as an ES module).
    """
    content = _template(name).substitute({k: escape(v) for k, v in values.items()})
    scripts = (
        f'<script type="application/json" id="vocabulary">{vocabulary_json()}</script>\n'
        f'<script type="module" src="/static/js/{escape(script)}"></script>'
        if script
        else ""
    )
    html = _template("layout.html").substitute(
        title=escape(title),
        app_name=APP_NAME,
        scripts=scripts,
        header=_header(tenant),
        content=content,
    )
    return Response(
        html,
        status_code=status_code,
        media_type=MediaType.HTML,
        headers=SECURITY_HEADERS,
        cookies=cookies,
    )

"""HTML shells for the dashboard pages.

The pages are static shells filled by small JavaScript modules that call the JSON API, so the
server side needs no template engine: `string.Template` over files in `templates/`, with every
value HTML-escaped. Nothing here is inline script or style, which lets the pages carry a strict
Content-Security-Policy.
"""

from __future__ import annotations

from functools import cache
from html import escape
from pathlib import Path
from string import Template

from litestar import MediaType, Response
from litestar.datastructures import Cookie

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
    scripts = f'<script type="module" src="/static/js/{escape(script)}"></script>' if script else ""
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

"""Rendering the console's pages: Jinja2 with autoescape, our own static files, strict CSP.

Every page gets the same headers: a Content-Security-Policy that runs only our own script
files (no inline script, no inline handler), images from our tile providers only, no framing;
``no-store`` since pages show a union's own data.
"""

from __future__ import annotations

import functools
import importlib.resources
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from api.rider_page import Asset, content_security_policy, leaflet_version
from geodata.tiles import TileProvider
from stations.domain.accounts import ROLE_LABELS

if TYPE_CHECKING:
    from api.console.session import ConsoleUser

_HERE = importlib.resources.files("api.console")
STATIC_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
}


@dataclass(frozen=True, slots=True)
class NavItem:
    label: str
    url: str
    city_only: bool = False


# The console's sections, in the order the header shows them.
NAV: tuple[NavItem, ...] = (
    NavItem("首页", "/console"),
    NavItem("上传", "/console/uploads"),
    NavItem("驿站", "/console/stations"),
    NavItem("活动", "/console/events"),
    NavItem("抽查暗访", "/console/inspections"),
    NavItem("整改", "/console/rectifications"),
    NavItem("反馈与投诉", "/console/reports"),
    NavItem("规划看板", "/console/dashboard"),
    NavItem("报表", "/console/report"),
    NavItem("星级评定", "/console/stars"),
    NavItem("使用情况", "/console/usage"),
    NavItem("账号", "/console/accounts", city_only=True),
)

UPLOAD_STATUS_LABELS = {
    "planning": "检查中",
    "dry_run": "已检查，待提交",
    "committed": "已提交",
    "reverted": "已撤销",
}


@functools.cache
def static_asset(name: str) -> Asset | None:
    """One of the console's own files (api/console/static/), or None."""
    if "/" in name or name.startswith("."):
        return None
    media_type = STATIC_TYPES.get(name[name.rfind(".") :] if "." in name else "")
    path = _HERE / "static" / name
    if media_type is None or not path.is_file():
        return None
    return Asset.of(path.read_bytes(), media_type)


def static_url(name: str) -> str:
    asset = static_asset(name)
    if asset is None:
        msg = f"no console static file {name!r}"
        raise LookupError(msg)
    return f"/console/static/{name}?v={asset.version}"


def _json_script(value: Any) -> Markup:
    """JSON for a ``<script type="application/json">`` block: nothing in it can end the
    block or start markup (``<``, ``>``, ``&`` escaped)."""
    text = orjson.dumps(value).decode()
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return Markup(text)  # noqa: S704 - escaped above for a JSON script block


@functools.cache
def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(_HERE / "templates")),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals["static_url"] = static_url
    env.globals["leaflet_js_url"] = f"/static/leaflet/{leaflet_version()}/leaflet.js"
    env.globals["leaflet_css_url"] = f"/static/leaflet/{leaflet_version()}/leaflet.css"
    env.globals["nav"] = NAV
    env.globals["role_labels"] = ROLE_LABELS
    env.globals["upload_status_labels"] = UPLOAD_STATUS_LABELS
    env.filters["json_script"] = _json_script
    env.filters["pct"] = lambda v, digits=1: "—" if v is None else f"{v * 100:.{digits}f}%"
    return env


def page_headers(tiles: tuple[TileProvider, ...]) -> dict[str, str]:
    return {
        "Content-Security-Policy": content_security_policy(tiles),
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "same-origin",
        "Cache-Control": "no-store",
        "X-Frame-Options": "DENY",
    }


def _tiles(request: Request) -> tuple[TileProvider, ...]:
    tiles: tuple[TileProvider, ...] = request.app.state.services.settings.rider_tile_providers
    return tiles


def render(
    request: Request,
    template: str,
    *,
    user: ConsoleUser | None,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
    **context: Any,
) -> Response:
    """The page ``template`` for ``user`` (None: signed out), with the console's headers.

    ``error`` and ``notice`` in ``context`` show as a banner at the top of the page."""
    tiles = _tiles(request)
    csrf = user.csrf if user is not None else context.pop("login_csrf", "")
    field: Callable[[], Markup] = lambda: Markup(  # noqa: E731
        '<input type="hidden" name="csrf" value="{}">'
    ).format(csrf)
    values = {
        "request": request,
        "user": user,
        "csrf_token": csrf,
        "csrf_field": field,
        "tiles_json": [t.as_json() for t in tiles],
        "error": None,
        "notice": None,
        "path": request.url.path,
        **context,
    }
    body = environment().get_template(template).render(values)
    return HTMLResponse(
        body, status_code=status_code, headers={**page_headers(tiles), **(headers or {})}
    )

"""The station's own phone page ``/s/{code}`` (the poster's QR code opens it) and the
reporter's receipt page: Jinja2 with autoescape in a small environment of their own (the
console's is bound to its session), our own script and style files, a strict CSP."""

from __future__ import annotations

import functools
import importlib.resources
from datetime import datetime
from typing import Any

import orjson
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from api.representation import links_at
from api.rider_page import Asset
from geodata.crs import CoordinateSystem, from_wgs84
from geodata.hours import TZ
from stations.domain.feedback import FEEDBACK_KIND_LABELS, NOTE_MAX_CHARS
from stations.domain.mobile import next_visits, place
from stations.domain.model import (
    AMENITY_LABELS,
    ENTRY_METHOD_LABELS,
    STATUS_LABELS,
    Station,
    Stop,
)
from stations.domain.visits import OCCUPATION_LABELS

_HERE = importlib.resources.files("api") / "station_page"
ASSET_TYPES = {
    "station.js": "text/javascript; charset=utf-8",
    "station.css": "text/css; charset=utf-8",
}
COMMENT_MAX_CHARS = 300  # the ratings contract: a comment of at most 300 characters
RECEIPTS_KEY = "yizhan.receipts"  # localStorage: the reporter's receipts ("我的反馈")


@functools.cache
def asset(name: str) -> Asset | None:
    """The page's script or style sheet, or None if ``name`` is not one."""
    media_type = ASSET_TYPES.get(name)
    return None if media_type is None else Asset.of((_HERE / name).read_bytes(), media_type)


def asset_url(name: str) -> str:
    """A versioned URL of the page's file ``name`` (kept a year by browsers)."""
    found = asset(name)
    assert found is not None
    return f"/s/assets/{name}?v={found.version}"


def _json_for_script(value: object) -> Markup:
    # Inside <script type="application/json">: no "</script>" can be formed.
    return Markup(orjson.dumps(value).decode().replace("<", "\\u003c"))  # noqa: S704


@functools.cache
def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(_HERE)),
        autoescape=select_autoescape(("html",)),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals["asset_url"] = asset_url
    env.filters["script_json"] = _json_for_script
    return env


def content_security_policy() -> str:
    """Only our own files: scripts, styles and fetches from this site, nothing inline (no
    ``'unsafe-inline'``), no framing; forms post here only."""
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' data:",
            "connect-src 'self'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )


def page(name: str, status: int = 200, **context: Any) -> Response:
    """Template ``name`` rendered with ``context``, with the pages' headers."""
    body = _environment().get_template(name).render(**context)
    return HTMLResponse(
        body,
        status_code=status,
        headers={
            "Content-Security-Policy": content_security_policy(),
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "same-origin",
            "Cache-Control": "no-cache",
        },
    )


def asset_response(name: str, request: Request) -> Response | None:
    """The file ``name`` (immutable when asked for by its versioned URL), or None."""
    found = asset(name)
    if found is None:
        return None
    versioned = request.query_params.get("v") == found.version
    cache = "public, max-age=31536000, immutable" if versioned else "no-cache"
    return found.response(request, cache_control=cache)


def _ago(at: datetime, now: datetime) -> str:
    days = (now.astimezone(TZ).date() - at.astimezone(TZ).date()).days
    if days <= 0:
        return "今天"
    if days == 1:
        return "昨天"
    return f"{days} 天前" if days < 60 else at.astimezone(TZ).strftime("%Y年%-m月%-d日")


def _when(change: datetime, now: datetime) -> str:
    local, today = change.astimezone(TZ), now.astimezone(TZ).date()
    days = (local.date() - today).days
    clock = local.strftime("%H:%M")
    if days == 0:
        return clock
    if days == 1:
        return f"明天 {clock}"
    return f"{local.month}月{local.day}日 {clock}"


def open_text(status: str, open_now: bool, next_change: datetime | None, now: datetime) -> str:
    """The station's state now, in words: 现在开放 · 营业至 20:00, 现在未开放 · 明天 08:00 开门."""
    if status != "active":
        return STATUS_LABELS.get(status, status)
    if open_now:
        return (
            "现在开放 · 全天开放"
            if next_change is None
            else f"现在开放 · 营业至 {_when(next_change, now)}"
        )
    return "现在未开放" if next_change is None else f"现在未开放 · {_when(next_change, now)} 开门"


WEEKDAYS = "一二三四五六日"


def visit_text(start: datetime, end: datetime | None) -> str:
    """A stand at a stop in Chinese: 周三 12月2日 10:00–14:00 (the end's day too when it
    is another day; 起 when its end is beyond the timetable's reach)."""
    a = start.astimezone(TZ)
    head = f"周{WEEKDAYS[a.weekday()]} {a.month}月{a.day}日 {a:%H:%M}"
    if end is None:
        return f"{head} 起"
    b = end.astimezone(TZ)
    if b.date() == a.date() or (b - a).total_seconds() <= 0:
        return f"{head}–{b:%H:%M}"
    return f"{head}–{b.month}月{b.day}日 {b:%H:%M}"


def mobile_context(station: Station, now: datetime) -> dict[str, Any] | None:
    """What page.html shows of a mobile station (流动驿站): where it stands now and until
    when, its timetable, its next stands (next_visits) with navigation to each stop; and
    the stop the page's navigation buttons lead to (where it is, else where it goes next:
    never its base). None for a fixed station."""
    if not station.mobile:
        return None
    placed = place(station, now)
    visits = next_visits(station, now, limit=5)
    coming = [
        {
            "name": v.stop.name,
            "when": visit_text(v.start, v.end),
            "now": placed is not None and v.index == placed.index and v.start <= now,
            "amap": _stop_links(v.stop)["amap"],
        }
        for v in visits
    ]
    target = placed.stop if placed is not None else (visits[0].stop if visits else None)
    here = None
    if placed is not None:
        until = "" if placed.until is None else _when(placed.until, now)
        here = {"name": placed.stop.name, "until": until}
    if here is not None:
        state = f"现在停靠 {here['name']}" + (f" · 至 {here['until']}" if here["until"] else "")
    elif coming:
        state = f"现在不在停靠点 · 下一站 {coming[0]['name']} {coming[0]['when']}"
    else:
        state = "近两周没有停靠安排"
    return {
        "here": here,
        "state": state,
        "timetable": [{"name": s.name, "hours": s.hours_text or s.hours} for s in station.stops],
        "next": coming,
        "navigation": None if target is None else _stop_links(target),
        "target": None if target is None else target.name,
    }


def _stop_links(stop: Stop) -> dict[str, str]:
    (glon, glat), (blon, blat) = (
        from_wgs84(stop.lon, stop.lat, crs=system)
        for system in (CoordinateSystem.GCJ02, CoordinateSystem.BD09)
    )
    return links_at(stop.name, float(glon), float(glat), float(blon), float(blat))


def station_context(
    doc: dict[str, Any], *, open_now: bool, next_change: datetime | None, now: datetime
) -> dict[str, Any]:
    """What page.html shows of the public record ``doc`` (api.representation.station_json):
    the stars, rating and freshness only when the record has them."""
    rating = doc.get("rating") or None
    confirmed = doc.get("last_confirmed") or None
    confirmed_text = None
    if confirmed and confirmed.get("at"):
        at = datetime.fromisoformat(confirmed["at"])
        confirmed_text = f"{_ago(at, now)} {confirmed.get('label') or ''}".strip()
    phone = "".join(ch for ch in str(doc.get("contact_phone") or "") if ch.isdigit() or ch in "+-")
    return {
        "station": doc,
        "stars": doc.get("stars"),
        "rating": rating if rating and rating.get("count") else None,
        "confirmed_text": confirmed_text,
        "open_now": open_now and doc["status"] == "active",
        "open_text": open_text(doc["status"], open_now, next_change, now),
        "entry": [ENTRY_METHOD_LABELS.get(m, m) for m in doc.get("entry_methods", ())],
        "amenities": [AMENITY_LABELS.get(a, a) for a in doc.get("amenities", ())],
        "phone": phone,
        "data": {
            "id": doc["id"],
            "code": doc.get("code"),
            "name": doc["name"],
            "occupations": OCCUPATION_LABELS,
            "feedback": FEEDBACK_KIND_LABELS,
            "noteMax": NOTE_MAX_CHARS,
            "commentMax": COMMENT_MAX_CHARS,
            "receiptsKey": RECEIPTS_KEY,
        },
        "mobile": None,  # a mobile station's: mobile_context
        "occupations": OCCUPATION_LABELS,
        "feedback_kinds": FEEDBACK_KIND_LABELS,
        "note_max": NOTE_MAX_CHARS,
        "comment_max": COMMENT_MAX_CHARS,
    }

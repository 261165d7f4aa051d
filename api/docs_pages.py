"""The API documentation pages, /docs and /redoc, with their scripts served from a package."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.responses import FileResponse, HTMLResponse, Response

from api.problems import Problem

__all__ = ["ASSETS_PATH", "FAVICON", "router"]

# FastAPI's own pages load Swagger UI and ReDoc from a public CDN (and ReDoc Google's
# fonts): blank on the networks our users are on. fastapi-offline ships the same files.
_ASSETS = Path(str(files("fastapi_offline") / "static"))
_MEDIA = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}
ASSETS_PATH = "/static/docs"
FAVICON = Path(str(files("api") / "favicon.ico"))
OAUTH2_REDIRECT = "/docs/oauth2-redirect"
# ReDoc's one request off the machine: the Redocly logo beside its credit line (the credit
# stays; an image that fails to load is hidden by ReDoc itself).
_REDOC_LOGO = b"https://cdn.redoc.ly/redoc/logo-mini.svg"
_CACHE = {"Cache-Control": "public, max-age=86400"}

router = APIRouter(include_in_schema=False)


@dataclass(frozen=True, slots=True)
class _Page:
    """What both documentation pages are given: the OpenAPI document, the title, and the
    prefix (the proxy's root_path) under which their assets and the favicon are served."""

    openapi_url: str
    title: str
    root: str

    @classmethod
    def of(cls, request: Request) -> _Page:
        root = str(request.scope.get("root_path", "")).rstrip("/")
        return cls(f"{root}{request.app.openapi_url}", f"{request.app.title} – API", root)

    def asset(self, name: str) -> str:
        return f"{self.root}{ASSETS_PATH}/{name}"

    @property
    def favicon_url(self) -> str:
        return f"{self.root}/favicon.ico"


@router.get("/docs")
def swagger_ui(request: Request) -> HTMLResponse:
    page = _Page.of(request)
    return get_swagger_ui_html(
        openapi_url=page.openapi_url,
        title=page.title,
        oauth2_redirect_url=f"{page.root}{OAUTH2_REDIRECT}",
        swagger_js_url=page.asset("swagger-ui-bundle.js"),
        swagger_css_url=page.asset("swagger-ui.css"),
        swagger_favicon_url=page.favicon_url,
        # Swagger UI's validator badge is an image from validator.swagger.io: none.
        swagger_ui_parameters={"validatorUrl": None},
    )


@router.get(OAUTH2_REDIRECT)
def swagger_ui_redirect() -> HTMLResponse:
    return get_swagger_ui_oauth2_redirect_html()


@router.get("/redoc")
def redoc(request: Request) -> HTMLResponse:
    page = _Page.of(request)
    return get_redoc_html(
        openapi_url=page.openapi_url,
        title=page.title,
        redoc_js_url=page.asset("redoc.standalone.js"),
        redoc_favicon_url=page.favicon_url,
        with_google_fonts=False,
    )


@cache
def _redoc_js() -> bytes:
    return (_ASSETS / "redoc.standalone.js").read_bytes().replace(_REDOC_LOGO, b"data:,")


@router.get(ASSETS_PATH + "/{name}", response_model=None)
def docs_asset(name: str) -> Response:
    path = _ASSETS / name
    if path.suffix not in _MEDIA or path.parent != _ASSETS or not path.is_file():
        raise Problem("not_found", f"no documentation asset {name!r}")
    if name == "redoc.standalone.js":
        return Response(_redoc_js(), media_type=_MEDIA[".js"], headers=_CACHE)
    return FileResponse(path, media_type=_MEDIA[path.suffix], headers=_CACHE)


@router.get("/favicon.ico")
def favicon() -> FileResponse:
    return FileResponse(
        FAVICON, media_type="image/x-icon", headers={"Cache-Control": "public, max-age=604800"}
    )

"""The API documentation pages, /docs and /redoc, with their scripts served from a package."""

from __future__ import annotations

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


def _root(request: Request) -> str:
    return str(request.scope.get("root_path", "")).rstrip("/")


@router.get("/docs")
def swagger_ui(request: Request) -> HTMLResponse:
    root = _root(request)
    return get_swagger_ui_html(
        openapi_url=f"{root}{request.app.openapi_url}",
        title=f"{request.app.title} – API",
        oauth2_redirect_url=f"{root}{OAUTH2_REDIRECT}",
        swagger_js_url=f"{root}{ASSETS_PATH}/swagger-ui-bundle.js",
        swagger_css_url=f"{root}{ASSETS_PATH}/swagger-ui.css",
        swagger_favicon_url=f"{root}/favicon.ico",
        # Swagger UI's validator badge is an image from validator.swagger.io: none.
        swagger_ui_parameters={"validatorUrl": None},
    )


@router.get(OAUTH2_REDIRECT)
def swagger_ui_redirect() -> HTMLResponse:
    return get_swagger_ui_oauth2_redirect_html()


@router.get("/redoc")
def redoc(request: Request) -> HTMLResponse:
    root = _root(request)
    return get_redoc_html(
        openapi_url=f"{root}{request.app.openapi_url}",
        title=f"{request.app.title} – API",
        redoc_js_url=f"{root}{ASSETS_PATH}/redoc.standalone.js",
        redoc_favicon_url=f"{root}/favicon.ico",
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

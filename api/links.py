"""Where the service's absolute links point (OGC API links, listing pages' ``Link``
headers, posters' QR codes): one rule for all of them."""

from __future__ import annotations

from urllib.parse import urlencode

from starlette.requests import Request

from api.deps import get_services


def site_base(request: Request) -> str:
    """YIZHAN_PUBLIC_URL, or the address the connection reached.

    Never the Host header: it is the client's to write, and a link made from it would send
    every client of a shared cache to the host one client named. The scheme is uvicorn's
    (X-Forwarded-Proto believed only from YIZHAN_FORWARDED_ALLOW_IPS).
    """
    settings = get_services(request).settings
    if settings.public_url:
        return settings.public_url
    server = request.scope.get("server")
    host, port = server if server else (settings.host, settings.port)
    scheme = request.url.scheme
    default = {"http": 80, "https": 443}.get(scheme)
    name = f"[{host}]" if ":" in str(host) else str(host)
    root = request.scope.get("root_path", "").rstrip("/")
    return f"{scheme}://{name}{'' if port in (None, default) else f':{port}'}{root}"


def this_url(request: Request, **params: object) -> str:
    """The request's own URL, at :func:`site_base`, with ``params`` set in its query (the
    others kept as sent, in their order)."""
    query = [(k, v) for k, v in request.query_params.multi_items() if k not in params]
    query += [(k, str(v)) for k, v in params.items()]
    # The path below the app's root: site_base holds the root (a proxy's prefix) already.
    path, root = request.url.path, request.scope.get("root_path", "").rstrip("/")
    if root and path.startswith(root + "/"):
        path = path[len(root) :]
    return f"{site_base(request)}{path}?{urlencode(query)}"

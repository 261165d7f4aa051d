"""Database passwords kept out of every message: for logs, terminals and HTTP clients.

Its own module so that both the opener (open.py) and the PostGIS store can use it, neither
importing the other.
"""

from __future__ import annotations

import re
import threading
from urllib.parse import unquote, urlsplit

# user:password@ in a URL; password=… in a libpq conninfo string or a URL's query.
_URL_PASSWORD = re.compile(r"(\b[a-z][a-z0-9+.-]*://[^:/@\s'\"]*:)[^@\s'\"]*@", re.IGNORECASE)
_KEY_PASSWORD = re.compile(r"(\bpassword\s*=\s*)('(?:[^'\\]|\\.)*'|[^\s&'\"]+)", re.IGNORECASE)


# The passwords of the database URLs this process opened, hidden wherever they appear:
# libpq quotes a password it cannot parse on its own, with no URL around it for the
# patterns above to find ('invalid percent-encoded token: "Pa%zz55word"').
_MIN_SECRET_CHARS = 4  # a shorter one would turn letters of every message into ***
_secrets: set[str] = set()
_secrets_lock = threading.Lock()


def remember_password(url: str) -> None:
    """Have :func:`redact` hide ``url``'s password anywhere in a text from now on: as
    written, percent-decoded, and each part between unencoded '@' (libpq splits there)."""
    found = [m.group(2).strip("'") for m in _KEY_PASSWORD.finditer(url)]
    try:
        password = urlsplit(url).password
    except ValueError:  # an unbalanced '[' of an IPv6 host: take what precedes the last '@'
        password = m.group(1) if (m := re.search(r"://[^:/@\s]*:(.+)@", url)) else None
    if password:
        found += [password, unquote(password), *password.split("@")]
    with _secrets_lock:
        _secrets.update(s for s in found if len(s) >= _MIN_SECRET_CHARS)


def redact(text: str) -> str:
    """``text`` with every database password in it replaced by ``***``: for anything that
    may reach a log, a terminal or an HTTP client."""
    text = _KEY_PASSWORD.sub(r"\1***", _URL_PASSWORD.sub(r"\1***@", text))
    for secret in sorted(_secrets, key=len, reverse=True):
        text = text.replace(secret, "***")
    return text

"""Dashboard sessions and CSRF tokens, signed with the API's own bearer tokens.

The cookie holds `issued.nonce.signature` (HMAC-SHA256 under the token the person logged in
with), not the token itself: a copied cookie expires and does not reveal the API token, and
removing a token from the config (SIGHUP) ends every session it signed. Nothing is kept on the
server, so sessions survive a restart. The CSRF token of a session is an HMAC of the cookie, so
a form is accepted only with the token the page it came from was rendered with.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections.abc import Sequence

COOKIE = "mastermind_session"
LIFETIME = 12 * 3600.0  # seconds a session lasts after login


def _mac(key: str, *parts: str) -> str:
    digest = hmac.new(key.encode(), "|".join(parts).encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def valid_token(token: str, tokens: Sequence[str]) -> bool:
    """Is `token` one of the configured bearer tokens? (constant time per comparison)"""
    return bool(token) and any(
        hmac.compare_digest(token.encode(), known.encode()) for known in tokens
    )


def new_session(token: str, now: float | None = None) -> str:
    """A session cookie value signed under `token` (which the caller has checked)."""
    issued = str(int(time.time() if now is None else now))
    nonce = secrets.token_urlsafe(16)
    return f"{issued}.{nonce}.{_mac(token, 'session', issued, nonce)}"


def session_key(cookie: str, tokens: Sequence[str], now: float | None = None) -> str | None:
    """The token that signed this unexpired session, or None if it is not a valid session."""
    issued, _, rest = cookie.partition(".")
    nonce, _, signature = rest.partition(".")
    if not (issued.isdigit() and nonce and signature):
        return None
    age = (time.time() if now is None else now) - int(issued)
    if not 0 <= age <= LIFETIME:
        return None
    for token in tokens:
        if hmac.compare_digest(_mac(token, "session", issued, nonce), signature):
            return token
    return None


def csrf_token(cookie: str, key: str) -> str:
    """The anti-forgery token forms of this session carry."""
    return _mac(key, "csrf", cookie)


def csrf_ok(cookie: str, key: str, presented: str) -> bool:
    return bool(presented) and hmac.compare_digest(csrf_token(cookie, key), presented)

"""OAuth 2.0 client credentials (`POST /oauth2/v1/token`) and bearer checks on API calls."""

from __future__ import annotations

import base64
import binascii
import hmac
import math
import secrets
from typing import TYPE_CHECKING
from urllib.parse import unquote_plus

from sandbox.wire import Reply

if TYPE_CHECKING:
    from werkzeug.wrappers import Request

    from sandbox.state import SandboxState
    from sandbox.wire import Params


def _oauth_error(status: int, error: str, description: str, headers: dict[str, str] | None = None) -> Reply:
    return Reply(
        status=status,
        body={"error": error, "error_description": description},
        headers=headers or {},
        error=True,
        drift=False,
    )


def _basic_credentials(request: Request) -> tuple[str, str] | None:
    header = request.headers.get("Authorization", "")
    if not header.lower().startswith("basic "):
        return None
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    if ":" not in decoded:
        return None
    client_id, secret = decoded.split(":", 1)
    # RFC 6749 2.3.1: the pair is form-encoded before base64; undo that for ids with reserved characters.
    return unquote_plus(client_id), unquote_plus(secret)


def issue_token(state: SandboxState, request: Request, params: Params) -> tuple[Reply, str | None]:
    """Handle the token endpoint; returns the reply and the client id it authenticated (if any)."""
    config = state.config
    oauth = config["oauth"]
    credentials = _basic_credentials(request)
    if credentials is None and params.get("client_id"):
        credentials = (params.get("client_id") or "", params.get("client_secret") or "")
    if credentials is None:
        return _oauth_error(401, "invalid_client", "Client authentication failed."), None
    client_id, secret = credentials
    expected = oauth["clients"].get(client_id)
    if expected is None or not hmac.compare_digest(str(expected).encode(), secret.encode()):
        return _oauth_error(
            401, "invalid_client", "The client secret supplied for a confidential client is invalid."
        ), None
    grant = params.get("grant_type")
    if grant != "client_credentials":
        return _oauth_error(
            400, "unsupported_grant_type", "The authorization grant type is not supported by the server."
        ), client_id
    scope = (params.get("scope") or "").strip()
    scopes = scope.split()
    if not scopes or not all(any(item.startswith(prefix) for prefix in oauth["scope_prefixes"]) for item in scopes):
        return _oauth_error(400, "invalid_scope", "One or more scopes are not configured for the client."), client_id

    now = state.clock.time()
    minute = int(now // 60)
    limit = int(oauth["tokens_per_minute"])
    with state.counters_lock:
        used = state.token_minutes.get((client_id, minute), 0)
        if used < limit:
            state.token_minutes[(client_id, minute)] = used + 1
            used += 1
            allowed = True
        else:
            allowed = False
        for key in [key for key in state.token_minutes if key[1] < minute]:
            del state.token_minutes[key]
    headers = {"X-RateLimit-Limit": str(limit), "X-RateLimit-Remaining": str(max(0, limit - used))}
    if not allowed:
        headers["Retry-After"] = str(max(1, math.ceil((minute + 1) * 60 - now)))
        return Reply(status=429, body=oauth["rate_limited_body"], headers=headers, error=True, drift=False), client_id

    token = secrets.token_urlsafe(21)
    lifetime = float(oauth["token_lifetime_seconds"])
    expires_at = now + lifetime
    with state.db.write() as tx:
        tx.execute(
            "INSERT INTO tokens (token, client_id, issued_at, expires_at) VALUES (?, ?, ?, ?)",
            (token, client_id, now, expires_at),
        )
        tx.execute("DELETE FROM tokens WHERE expires_at < ?", (now - 86400,))
    with state.counters_lock:
        state.token_cache[token] = (client_id, expires_at)
    body = {
        "access_token": token,
        "expires_in": str(int(lifetime)),  # athena sends a string here, whatever the drift mode
        "scope": " ".join(scopes),
        "token_type": "Bearer",
    }
    return Reply(status=200, body=body, headers=headers, drift=False), client_id


def bearer_client(state: SandboxState, request: Request) -> str | None:
    """The client id behind a valid, unexpired bearer token; None otherwise."""
    header = request.headers.get("Authorization", "")
    if not header.lower().startswith("bearer "):
        return None
    token = header[7:].strip()
    if not token:
        return None
    with state.counters_lock:
        cached = state.token_cache.get(token)
    if cached is None:
        row = state.db.query_one("SELECT client_id, expires_at FROM tokens WHERE token = ?", (token,))
        if row is None:
            return None
        cached = (row["client_id"], row["expires_at"])
        with state.counters_lock:
            state.token_cache[token] = cached
    client_id, expires_at = cached
    if state.clock.time() >= expires_at:
        return None
    if client_id not in state.config["oauth"]["clients"]:
        return None  # the client was removed from the configuration since
    return client_id

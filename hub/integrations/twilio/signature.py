"""Checking `X-Twilio-Signature` on what Twilio posts to the hub, with Twilio's own validator.

Twilio signs the exact URL it called. Behind a TLS-terminating proxy the hub sees another scheme,
host or port, so the URL is rebuilt from a configured public base URL, or from the proxy's
`X-Forwarded-Proto` / `X-Forwarded-Host` / `X-Forwarded-Port` when the proxy is trusted.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlsplit

from twilio.request_validator import RequestValidator


def public_url(
    *,
    path_with_query: str,
    scheme: str,
    host: str,
    public_base_url: str = "",
    forwarded: Mapping[str, str] | None = None,
) -> str:
    """The URL as Twilio called it: `public_base_url` wins, then trusted forwarded headers, then the request."""
    if public_base_url:
        base = urlsplit(public_base_url)
        return f"{base.scheme}://{base.netloc}{base.path.rstrip('/')}{path_with_query}"
    if forwarded:
        scheme = forwarded.get("proto", "").split(",")[0].strip() or scheme
        forwarded_host = forwarded.get("host", "").split(",")[0].strip()
        if forwarded_host:
            host = forwarded_host
            port = forwarded.get("port", "").split(",")[0].strip()
            default_port = {"https": "443", "http": "80"}.get(scheme)
            if port and ":" not in host and port != default_port:
                host = f"{host}:{port}"
    return f"{scheme}://{host}{path_with_query}"


def signature_valid(*, auth_tokens: list[str], url: str, params: Mapping[str, str], signature: str) -> bool:
    """Twilio's RequestValidator over the form parameters (constant-time compare inside)."""
    if not signature:
        return False
    # The validator tries the URL with and without the default port, as Twilio may sign either.
    return any(RequestValidator(token).validate(url, dict(params), signature) for token in auth_tokens if token)

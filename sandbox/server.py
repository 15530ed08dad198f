"""Running the sandbox: a threaded Werkzeug server, in its own process or in a background thread."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from sandbox.app import SandboxApp, create_app


class QuietRequestHandler(WSGIRequestHandler):
    """No access log per request (the sandbox keeps its own request log); errors still go to stderr."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        return None


class VerboseRequestHandler(WSGIRequestHandler):
    """Werkzeug's usual access log."""


class SandboxServer:
    """A running sandbox: `.url`, `.config` (live), `.app`, `.stop()`."""

    def __init__(self, app: SandboxApp, server: BaseWSGIServer, thread: threading.Thread | None = None) -> None:
        self.app = app
        self._server = server
        self._thread = thread
        self.host = server.host
        self.port = server.port

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def config(self) -> dict[str, Any]:
        """The live configuration (change it with `configure` or `PUT /_sandbox/config`)."""
        return self.app.state.config

    @property
    def state(self) -> Any:
        return self.app.state

    def configure(self, **patch: Any) -> dict[str, Any]:
        """Merge settings into the running configuration (same rules as `PUT /_sandbox/config`)."""
        return self.app.state.update_config(patch)

    def reset(self, seed: int | None = None, **options: Any) -> dict[str, Any]:
        return self.app.state.reset(seed, **options)

    def serve_forever(self) -> None:
        self._server.serve_forever(poll_interval=0.1)

    def stop(self) -> None:
        """Stop accepting requests, stop the webhook thread, release the database."""
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.app.close()

    def __enter__(self) -> SandboxServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def build_server(
    *,
    host: str = "127.0.0.1",
    port: int = 8100,
    db: str | None = None,
    reset: bool = False,
    verbose: bool = False,
    config: Mapping[str, Any] | None = None,
) -> SandboxServer:
    app = create_app(config, db_path=db, reset=reset)
    # Deliveries still pending from a previous run of the same database are sent again from the start.
    app.state.webhooks.start()
    handler = VerboseRequestHandler if verbose else QuietRequestHandler
    server = make_server(host, port, app, threaded=True, request_handler=handler)
    return SandboxServer(app, server)


def start_in_thread(
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    db: str | None = None,
    reset: bool = True,
    verbose: bool = False,
    **config: Any,
) -> SandboxServer:
    """Start a sandbox in a daemon thread and return once it accepts connections.

    `port=0` picks a free port; `db=None` uses a temporary SQLite file removed on `stop()`.
    Any other keyword is a setting (`seed=3`, `type_drift="legacy"`, `faults={...}`...). Webhooks are
    off unless a `webhook` setting is passed, so a test sandbox never posts to a developer's running hub;
    passing `webhook={"url": ...}` switches them on. Twilio status callbacks and Clover webhooks
    likewise stay off unless a `twilio` or `clover` setting is passed.
    """
    settings = dict(config)
    webhook = dict(settings.get("webhook") or {})
    if "webhook" not in settings:
        webhook["enabled"] = False
    else:
        webhook.setdefault("enabled", True)
    settings["webhook"] = webhook
    # Twilio status callbacks and Clover webhooks are off the same way unless their settings are passed.
    twilio = dict(settings.get("twilio") or {})
    twilio["callbacks"] = {"enabled": "twilio" in settings, **(twilio.get("callbacks") or {})}
    settings["twilio"] = twilio
    clover = dict(settings.get("clover") or {})
    clover["webhook"] = {"enabled": "clover" in settings, **(clover.get("webhook") or {})}
    settings["clover"] = clover
    built = build_server(host=host, port=port, db=db, reset=reset, verbose=verbose, config=settings)
    thread = threading.Thread(target=built.serve_forever, name=f"sandbox-{built.port}", daemon=True)
    built._thread = thread
    thread.start()
    return built

"""Fixtures for the sandbox tests: one in-process sandbox per session, reset before each test."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from sandbox.server import SandboxServer, start_in_thread

PRACTICE = "195900"
CLIENT_ID = "hub-local-client"
CLIENT_SECRET = "hub-local-secret"
SCOPE = "athena/service/Athenanet.MDP.*"


class Athena:
    """A deliberately thin client: just enough to speak the wire format in tests."""

    def __init__(self, base_url: str, client_id: str = CLIENT_ID, secret: str = CLIENT_SECRET) -> None:
        self.base_url = base_url
        self.client_id = client_id
        self.secret = secret
        self.token: str | None = None

    def fetch_token(self) -> requests.Response:
        return requests.post(
            f"{self.base_url}/oauth2/v1/token",
            auth=(self.client_id, self.secret),
            data={"grant_type": "client_credentials", "scope": SCOPE},
            timeout=5,
        )

    def _headers(self) -> dict[str, str]:
        if self.token is None:
            response = self.fetch_token()
            assert response.status_code == 200, response.text
            self.token = response.json()["access_token"]
        return {"Authorization": f"Bearer {self.token}"}

    def url(self, path: str) -> str:
        return f"{self.base_url}/v1/{PRACTICE}{path}"

    def get(self, path: str, params: Any = None, **kwargs: Any) -> requests.Response:
        return requests.get(
            self.url(path), params=params, headers=self._headers(), timeout=kwargs.pop("timeout", 5), **kwargs
        )

    def post(self, path: str, data: Any = None, **kwargs: Any) -> requests.Response:
        return requests.post(
            self.url(path), data=data, headers=self._headers(), timeout=kwargs.pop("timeout", 5), **kwargs
        )

    def put(self, path: str, data: Any = None, **kwargs: Any) -> requests.Response:
        return requests.put(
            self.url(path), data=data, headers=self._headers(), timeout=kwargs.pop("timeout", 5), **kwargs
        )

    def delete(self, path: str, data: Any = None, **kwargs: Any) -> requests.Response:
        return requests.delete(
            self.url(path), data=data, headers=self._headers(), timeout=kwargs.pop("timeout", 5), **kwargs
        )


class Control:
    """The `/_sandbox/` control surface."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url

    def get(self, path: str, **params: Any) -> Any:
        response = requests.get(f"{self.base_url}/_sandbox{path}", params=params, timeout=10)
        assert response.status_code == 200, response.text
        return response.json()

    def configure(self, **patch: Any) -> dict[str, Any]:
        response = requests.put(f"{self.base_url}/_sandbox/config", json=patch, timeout=5)
        assert response.status_code == 200, response.text
        return response.json()

    def edit(self, **edit: Any) -> dict[str, Any]:
        response = requests.post(f"{self.base_url}/_sandbox/edits", json=edit, timeout=5)
        assert response.status_code == 200, response.text
        return response.json()["results"][0]

    def requests(self, **filters: Any) -> list[dict[str, Any]]:
        return self.get("/requests", **filters)["requests"]

    def records(self, kind: str, **filters: Any) -> dict[str, Any]:
        return self.get(f"/records/{kind}", **filters)


@pytest.fixture(scope="session")
def server() -> Iterator[SandboxServer]:
    # A generous token allowance (every test starts a fresh client) and no per-second throttle (tests fire
    # requests back to back); the OAuth and limit tests switch the real behaviour on.
    running = start_in_thread(seed=1, oauth={"tokens_per_minute": 1000}, throttle={"enabled": False})
    yield running
    running.stop()


@pytest.fixture
def sandbox(server: SandboxServer) -> SandboxServer:
    """The shared sandbox, reset to seed 1 and its starting configuration."""
    response = requests.post(f"{server.url}/_sandbox/reset", json={"restore_config": True}, timeout=30)
    assert response.status_code == 200, response.text
    return server


@pytest.fixture
def athena(sandbox: SandboxServer) -> Athena:
    return Athena(sandbox.url)


@pytest.fixture
def control(sandbox: SandboxServer) -> Control:
    return Control(sandbox.url)


class Receiver:
    """A local HTTP endpoint that records what it is sent and answers with scripted statuses."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.statuses: list[int] = []  # answered in order; 200 once exhausted
        self.lock = threading.Lock()
        self.event = threading.Event()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with receiver.lock:
                    status = receiver.statuses.pop(0) if receiver.statuses else 200
                    receiver.received.append({"headers": dict(self.headers), "body": body, "status": status})
                receiver.event.set()
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/webhooks/athena/"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def bodies(self) -> list[dict[str, Any]]:
        with self.lock:
            return [json.loads(item["body"]) for item in self.received]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    running = Receiver()
    yield running
    running.stop()

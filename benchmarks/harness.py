"""Starting a live hub and sandbox for a benchmark: separate processes, a throwaway database.

Every benchmark measures the real thing: the sandbox as its own process, the hub's web server
(gunicorn) and task workers (django-q2 cluster) as in `make run`, on the embedded default
(SQLite + ORM broker) unless `--pg` points it at PostgreSQL and Redis. The stack's temporary
directory (databases, process logs) is removed after a clean run; it is kept, and named on
stderr, when the benchmark fails or `BENCH_KEEP` is set.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile (no interpolation: a p99 is a latency that really happened)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, math.ceil(pct / 100 * len(ordered)) - 1))
    return ordered[rank]


def summary(values: list[float]) -> dict[str, float]:
    return {
        "p50": round(percentile(values, 50), 2),
        "p95": round(percentile(values, 95), 2),
        "p99": round(percentile(values, 99), 2),
        "mean": round(statistics.fmean(values), 2) if values else float("nan"),
        "n": len(values),
    }


def wait_http(url: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(requests.RequestException):
            if requests.get(url, timeout=1).status_code < 500:
                return
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not come up")


@dataclass
class Stack:
    """A running sandbox + hub; `.env` is the hub's environment (for manage.py calls)."""

    workdir: Path
    sandbox_url: str
    hub_url: str
    env: dict[str, str]
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    # name → (arguments, extra environment) of each started process, so it can be restarted.
    commands: dict[str, tuple[list[str], dict[str, str]]] = field(default_factory=dict)
    named: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def manage(self, *args: str, check: bool = True) -> str:
        result = subprocess.run(
            [PYTHON, "manage.py", *args], cwd=ROOT, env=self.env, capture_output=True, text=True, check=False
        )
        if check and result.returncode != 0:
            raise RuntimeError(f"manage.py {args[0]} failed: {result.stderr[-2000:]}")
        return result.stdout

    def sandbox(self, method: str, path: str, **kwargs: Any) -> Any:
        response = requests.request(method, f"{self.sandbox_url}/_sandbox/{path}", timeout=60, **kwargs)
        response.raise_for_status()
        return response.json()

    def start(self, name: str, args: list[str], extra_env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        log = open(self.workdir / f"{name}.log", "wb")  # noqa: SIM115 - kept open for the process's life
        process = subprocess.Popen(
            args,
            cwd=ROOT,
            env={**self.env, **(extra_env or {})},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.processes.append(process)
        self.commands[name] = (args, extra_env or {})
        self.named[name] = process
        return process

    def restart(self, name: str, sig: signal.Signals = signal.SIGKILL) -> subprocess.Popen[bytes]:
        """Kill a started process (its whole group) with `sig` and start it again as it was."""
        old = self.named[name]
        with contextlib.suppress(ProcessLookupError):
            os.killpg(old.pid, sig)
        old.wait(timeout=30)
        args, extra_env = self.commands[name]
        return self.start(name, args, extra_env)

    def stop(self) -> None:
        for process in reversed(self.processes):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)


def _exit_on_sigterm(signum: int, frame: Any) -> None:
    raise SystemExit(128 + signum)


@contextlib.contextmanager
def live_stack(
    *,
    pg: bool = False,
    workers: int = 2,
    hub_env: dict[str, str] | None = None,
    sandbox_config: dict[str, Any] | None = None,
    start_cluster: bool = True,
    web_threads: int = 8,
    web_workers: int | None = None,
) -> Iterator[Stack]:
    """Sandbox (own process) + migrated hub + imported practice + web server + task cluster.

    A SIGTERM (a `timeout`, a cancelled job) ends the run like Ctrl-C: the started processes are
    stopped on the way out instead of being left running.
    """
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _exit_on_sigterm)
    workdir = Path(tempfile.mkdtemp(prefix="hub-bench-"))
    sandbox_port, hub_port = free_port(), free_port()
    hub_url = f"http://127.0.0.1:{hub_port}"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "hub.settings",
        "HUB_VAR_DIR": str(workdir / "var"),
        "ATHENA_BASE_URL": f"http://127.0.0.1:{sandbox_port}",
        "PORTAL_WEBHOOK_URL": f"http://127.0.0.1:{sandbox_port}/_portal/webhooks",
        "HUB_Q_WORKERS": str(workers),
        "HUB_LOG_LEVEL": "WARNING",
        "REDIS_URL": "",
        # Twilio and Clover are the sandbox too; their callbacks come back to this hub.
        "TWILIO_BASE_URL": f"http://127.0.0.1:{sandbox_port}/_twilio",
        "CLOVER_BASE_URL": f"http://127.0.0.1:{sandbox_port}/_clover",
        "CLEARINGHOUSE_BASE_URL": f"http://127.0.0.1:{sandbox_port}/_clearinghouse",
        "TWILIO_STATUS_CALLBACK_URL": f"{hub_url}/webhooks/twilio/status/",
        **(hub_env or {}),
    }
    if pg:
        env["DATABASE_URL"] = os.environ.get("BENCH_DATABASE_URL", "postgres://hub:hub@127.0.0.1:5432/hub_bench")
        env["REDIS_URL"] = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6399/3")
    stack = Stack(workdir, f"http://127.0.0.1:{sandbox_port}", hub_url, env)
    config = {
        "webhook": {"url": f"{hub_url}/webhooks/athena/"},
        "throttle": {"per_second": 1000.0},  # fast set-up; benchmarks set their own limits
        "oauth": {"tokens_per_minute": 1000},
        # Clover's webhooks and patients' texts come back to this hub.
        "clover": {"webhook": {"url": f"{hub_url}/webhooks/clover/"}},
        "twilio": {"inbound_url": f"{hub_url}/webhooks/twilio/inbound/"},
        **(sandbox_config or {}),
    }
    try:
        stack.start(
            "sandbox",
            [PYTHON, "-m", "sandbox", "--port", str(sandbox_port), "--db", str(workdir / "sandbox.sqlite3"), "--reset"],
            {"SANDBOX_CONFIG": json.dumps(config)},
        )
        wait_http(f"{stack.sandbox_url}/_sandbox/stats")
        if pg:
            stack.manage("flush", "--noinput", check=False)
        stack.manage("migrate", "--noinput")
        stack.manage("athena_import")
        stack.start(
            "web",
            [
                PYTHON,
                "-m",
                "gunicorn",
                "hub.wsgi:application",
                "--bind",
                f"127.0.0.1:{hub_port}",
                "--worker-class",
                "gthread",
                "--workers",
                str(web_workers or (2 if pg else 1)),
                "--threads",
                str(web_threads),
                "--log-level",
                "warning",
            ],
        )
        wait_http(f"{hub_url}/healthz")
        if start_cluster:
            stack.start("cluster", [PYTHON, "manage.py", "qcluster"])
        yield stack
    except BaseException:
        print(f"benchmark stack kept for its logs: {workdir}", file=sys.stderr)
        raise
    finally:
        stack.stop()
    if not os.environ.get("BENCH_KEEP"):
        shutil.rmtree(workdir, ignore_errors=True)


DEFAULT_SCOPES = ("read", "patients:write", "insurance:write", "appointments:write")


def portal_client(
    stack: Stack, name: str = "bench-portal", scopes: tuple[str, ...] = DEFAULT_SCOPES
) -> Callable[[], str]:
    """A portal client on every location; returns a function that fetches a fresh access token."""
    created = json.loads(
        stack.manage(
            "create_portal_client",
            name,
            "--locations",
            "all",
            "--scopes",
            *sorted({*scopes, "intake:write"}),
        )
    )

    def token() -> str:
        response = requests.post(
            f"{stack.hub_url}/o/token/",
            auth=(created["client_id"], created["client_secret"]),
            data={"grant_type": "client_credentials", "scope": " ".join(scopes)},
            timeout=10,
        )
        response.raise_for_status()
        return str(response.json()["access_token"])

    return token


def portal_token(stack: Stack, name: str = "bench-portal", scopes: tuple[str, ...] = DEFAULT_SCOPES) -> str:
    return portal_client(stack, name, scopes)()


def use_hub_database(stack: Stack) -> None:
    """Let this process read the hub's database through Django (counts, states)."""
    import django

    os.environ.update(
        {key: value for key, value in stack.env.items() if key.startswith(("DATABASE_URL", "HUB_", "DJANGO_"))}
    )
    os.environ.setdefault("DATABASE_URL", "")
    if not os.environ["DATABASE_URL"]:
        os.environ["DATABASE_URL"] = f"sqlite:///{stack.workdir / 'var' / 'hub.sqlite3'}"
    sys.path.insert(0, str(ROOT))
    django.setup()


def emit(result: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:28} {value}")

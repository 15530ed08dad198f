"""The WSGI application: routing, the request pipeline (auth, throttle, quota, faults), the request log."""

from __future__ import annotations

import json
import secrets
import socket
import struct
import sys
import time
import traceback
from collections.abc import Iterable, Mapping
from typing import Any

from werkzeug.exceptions import MethodNotAllowed, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from sandbox import athena, clearinghouse, clover, control, portal, twilio
from sandbox.auth import bearer_client, issue_token
from sandbox.context import Call
from sandbox.faults import Fault, decide
from sandbox.limits import quota_peek, quota_retry_after, quota_take, throttle
from sandbox.routing import Route
from sandbox.state import SandboxState
from sandbox.wire import ATHENA_JSON, ApiError, Params, Reply, encode_json, legacy_types

TOKEN_ROUTE = Route("/oauth2/v1/token", ("POST",), issue_token, "athena")
ROUTES: list[Route] = [
    TOKEN_ROUTE,
    *athena.ROUTES,
    *clearinghouse.ROUTES,
    *twilio.ROUTES,
    *clover.ROUTES,
    *portal.ROUTES,
]
PREFIX_SYSTEMS = (
    ("/_clearinghouse/", "clearinghouse"),
    ("/_twilio/", "twilio"),
    ("/_clover/", "clover"),
    ("/_portal/", "portal"),
)


class DroppedConnection(ConnectionAbortedError):
    """Raised after closing the client's socket on purpose; Werkzeug treats it as a dropped connection."""


def _system_for(path: str) -> str:
    for prefix, system in PREFIX_SYSTEMS:
        if path.startswith(prefix):
            return system
    return "athena"


class SandboxApp:
    """The sandbox as a WSGI callable; `state` holds everything it knows."""

    def __init__(self, state: SandboxState) -> None:
        self.state = state
        self.routes = ROUTES
        self.url_map = Map(
            [Rule(route.path, endpoint=index, methods=list(route.methods)) for index, route in enumerate(ROUTES)],
            strict_slashes=False,
        )
        self._boot = secrets.randbelow(10**6)

    @property
    def config(self) -> dict[str, Any]:
        return self.state.config

    def close(self) -> None:
        self.state.close()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        request = Request(environ)
        if request.path.startswith("/_sandbox"):
            reply = control.dispatch(self.state, request)
            return self._response(reply, "control")(environ, start_response)
        return self._serve(environ, request, start_response)

    # --- pipeline ---------------------------------------------------------------------------------

    def _serve(self, environ: dict[str, Any], request: Request, start_response: Any) -> Iterable[bytes]:
        started = time.perf_counter()
        state = self.state
        config = state.config
        path = request.path
        system = _system_for(path)
        with state.counters_lock:
            state.request_counter += 1
            number = state.request_counter
        request_id = f"rrt-{time.time_ns() % 10**19:019d}-a-gea1-{self._boot:06d}-{number}-1"
        route: Route | None = None
        args: dict[str, Any] = {}
        fault: Fault | None = None
        handler_status: int | None = None
        call = Call(
            state=state,
            config=config,
            request=request,
            params=Params([]),
            system=system,
            route=path,
            method=request.method,
        )
        try:
            index, matched = self.url_map.bind_to_environ(environ).match()
            args = dict(matched)
            route = self.routes[int(index)]
            call.route = route.template
            call.params = self._params(request, config)
            reply, fault = self._process(call, route, dict(args))
        except NotFound:
            reply = Reply(status=404, body=config["errors"]["not_found"], error=True, drift=False)
        except MethodNotAllowed:
            reply = Reply(status=405, body=config["errors"]["method_not_allowed"], error=True, drift=False)
        except ApiError as exc:
            reply = exc.reply()
        handler_status = reply.status

        if system == "athena":
            reply.headers["X-Request-Id"] = request_id
            if route is not TOKEN_ROUTE:
                limit, remaining = call.quota or quota_peek(state, call.client_id)
                reply.headers.setdefault("X-RateLimit-Limit", str(limit))
                reply.headers.setdefault("X-RateLimit-Remaining", str(remaining))

        if fault is not None and fault.kind == "error_after":
            reply = self._internal_error(config, fault.error_status, reply.headers)
        sent_status: int | None = reply.status
        if fault is not None and fault.kind == "drop_after":
            sent_status = None
        self._log(call, request, request_id, sent_status, handler_status, fault, started)

        if fault is not None and fault.kind == "hang_after":
            time.sleep(fault.hang_seconds)
        if fault is not None and fault.kind == "drop_after":
            self._drop(environ)
        return self._response(reply, system)(environ, start_response)

    def _process(self, call: Call, route: Route, args: dict[str, Any]) -> tuple[Reply, Fault | None]:
        state, config = call.state, call.config
        if route is TOKEN_ROUTE:
            fault = decide(state, system=route.system, method=call.method, route=route.template, path=call.request.path)
            early = self._before_handler(call, fault)
            if early is not None:
                return early, fault
            reply, client_id = issue_token(state, call.request, call.params)
            call.client_id = client_id
            call.wrote = reply.status == 200
            return reply, fault
        if route.system == "athena":
            practice = args.pop("practiceid", None)
            client_id = bearer_client(state, call.request)
            if client_id is None:
                return Reply(
                    status=401,
                    body=config["errors"]["unauthorized"],
                    error=True,
                    drift=False,
                    headers={"WWW-Authenticate": 'Bearer realm="athenahealth"'},
                ), None
            call.client_id = client_id
            if practice != str(config["practice_id"]):
                return Reply(status=404, body=config["errors"]["not_found"], error=True, drift=False), None
            throttled = throttle(state, client_id)
            if throttled is not None:
                throttled.drift = False
                return throttled, None
            allowed, limit, remaining = quota_take(state, client_id)
            call.quota = (limit, remaining)
            if not allowed:
                quota = config["quota"]
                return Reply(
                    status=int(quota["status"]),
                    body=quota["body"],
                    error=True,
                    drift=False,
                    headers={"Retry-After": str(quota_retry_after(state))},
                ), None
        fault = decide(state, system=route.system, method=call.method, route=route.template, path=call.request.path)
        early = self._before_handler(call, fault)
        if early is not None:
            return early, fault
        try:
            reply = route.handler(call, **args)
        except ApiError as exc:
            reply = exc.reply()
        except Exception:
            traceback.print_exc(file=sys.stderr)
            reply = self._internal_error(config, 500, {})
        return reply, fault

    def _before_handler(self, call: Call, fault: Fault | None) -> Reply | None:
        if fault is None:
            return None
        if fault.kind == "rate_limited":
            return Reply(
                status=429,
                body=call.config["throttle"]["body"],
                error=True,
                drift=False,
                headers={"Retry-After": str(fault.retry_after_seconds)},
            )
        if fault.kind == "error_before":
            return self._internal_error(call.config, fault.error_status, {})
        if fault.kind == "slow":
            time.sleep(fault.slow_seconds)
        return None

    @staticmethod
    def _internal_error(config: dict[str, Any], status: int, headers: Mapping[str, str]) -> Reply:
        return Reply(status=status, body=config["errors"]["internal"], headers=dict(headers), error=True, drift=False)

    @staticmethod
    def _params(request: Request, config: dict[str, Any]) -> Params:
        sources: list[Iterable[tuple[str, str]]] = [request.args.items(multi=True)]
        if request.method in ("POST", "PUT", "DELETE", "PATCH"):
            sources.append(request.form.items(multi=True))
        params = Params(sources)
        if config["accept_json_bodies"] and request.mimetype == "application/json":
            try:
                body = json.loads(request.get_data(as_text=True) or "{}")
            except json.JSONDecodeError:
                body = None
            if isinstance(body, dict):
                params.update(body)
        return params

    def _log(
        self,
        call: Call,
        request: Request,
        request_id: str,
        status: int | None,
        handler_status: int | None,
        fault: Fault | None,
        started: float,
    ) -> None:
        ids: dict[str, Any] = dict(call.touched)
        key = request.headers.get("Idempotency-Key")
        if key:
            ids.setdefault("idempotency_key", key)  # faulted calls too: retries must reuse it
        if call.events:
            ids["events"] = [event["id"] for event in call.events]  # ties an API write to its webhook
        self.state.db.insert_autocommit(
            "INSERT INTO request_log (at, system, client_id, method, path, route, status, handler_status, fault, "
            "wrote, patientid, appointmentid, insuranceid, ids, request_id, client_request_id, duration_ms) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                self.state.clock.time(),
                call.system,
                call.client_id,
                request.method,
                request.path,
                call.route,
                status,
                handler_status,
                fault.kind if fault else None,
                int(call.wrote),
                ids.get("patientid"),
                ids.get("appointmentid"),
                ids.get("insuranceid"),
                json.dumps(ids) if ids else None,
                request_id,
                request.headers.get("X-Request-Id"),
                round((time.perf_counter() - started) * 1000, 3),
            ),
        )

    def _response(self, reply: Reply, system: str) -> Response:
        if reply.raw is not None:
            data = reply.raw
        else:
            body = reply.body
            if reply.drift and system == "athena" and self.state.config["type_drift"] == "legacy":
                body = legacy_types(body)
            data = encode_json(body)
            blank_lines = int(self.state.config["errors"]["blank_lines"])
            if reply.error and system == "athena" and blank_lines > 0:
                data = b"\n" * blank_lines + data
        content_type = reply.content_type
        if system != "athena" and content_type == ATHENA_JSON:
            content_type = "application/json"
        response = Response(data, status=reply.status, content_type=content_type)
        for name, value in reply.headers.items():
            response.headers[name] = value
        return response

    @staticmethod
    def _drop(environ: dict[str, Any]) -> None:
        """Close the client's connection with a reset and no response at all."""
        sock = environ.get("werkzeug.socket")
        if isinstance(sock, socket.socket):
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        raise DroppedConnection("connection dropped by fault injection")


def create_app(
    config: Mapping[str, Any] | None = None, *, db_path: str | None = None, reset: bool = False
) -> SandboxApp:
    """Build the WSGI app over its own SQLite file (a temporary one when `db_path` is None), seeded if empty."""
    state = SandboxState(config, db_path=db_path)
    if reset:
        state.reset()
    else:
        state.ensure_seeded()
    return SandboxApp(state)

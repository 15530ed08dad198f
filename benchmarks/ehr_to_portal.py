"""EHR change → portal webhook, through a live hub, against the same path through a bare relay.

    python benchmarks/ehr_to_portal.py --rate 20 --duration 60 --json

Front-desk edits are made inside the sandbox at `--rate` per second. Each commits a change, and
the sandbox POSTs athena's id-only notification to a receiver, which must end in a signed event
at the portal sink. Two receivers are measured in the same run:

- the floor: a bare Python loopback relay (POST in, 202, POST on to the sink);
- the hub: store, acknowledge, inflate from athena, merge, emit and deliver a portal event.

Before the hub's run it reads athena's changed feed once and catches up on the floor's changes
(which went to the relay, not to the hub); the scheduled feed reads go on during its run.

Ack latency is the receiver's answer to athena's POST; end-to-end is sink receive time minus the
change's commit time (one clock: both on this machine). Prints one JSON object with ack_p50_ms,
ack_p99_ms, e2e_p50_ms, e2e_p95_ms, e2e_p99_ms, floor_p50_ms, floor_p99_ms and ratio (hub e2e p99
÷ floor p99), plus counts: a change announced together with a later change of the same patient
(see `portal_saw`) is counted as `coalesced`, not `missing`, once the hub has caught up; when it
has not within the wait (three times the duration, at least 60 s), such changes count as missing and
`hub_backlog_at_end` says how many notifications were still unread.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.harness import emit, free_port, live_stack, percentile, use_hub_database


def start_relay(sink_url: str) -> tuple[ThreadingHTTPServer, str]:
    """The physical floor: acknowledge, then forward a small JSON naming the event to the sink."""
    local = threading.local()

    class Relay(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response(202)
            self.send_header("Content-Length", "0")
            self.end_headers()
            self.wfile.flush()
            event_id = json.loads(body)["entry"][0]["resource"]["notificationEvent"][0]["id"]
            if not hasattr(local, "session"):
                local.session = requests.Session()
            local.session.post(sink_url, json={"floor_event": event_id}, timeout=5)

        def log_message(self, *args: Any) -> None:
            return None

    port = free_port()
    server = ThreadingHTTPServer(("127.0.0.1", port), Relay)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{port}/"


def drive_edits(sandbox_url: str, patients: list[str], rate: float, duration: float) -> dict[str, tuple[float, str]]:
    """Front-desk edits at a steady rate; returns event id → (commit time, patient)."""
    committed: dict[str, tuple[float, str]] = {}
    session = requests.Session()
    interval = 1.0 / rate
    started = time.monotonic()
    n = 0
    rng = random.Random(7)
    while time.monotonic() - started < duration:
        target = started + n * interval
        delay = target - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        patient = patients[n % len(patients)]
        phone = f"617555{rng.randrange(10000):04d}"
        reply = session.post(
            f"{sandbox_url}/_sandbox/edits",
            json={"type": "patient.update", "patientid": patient, "fields": {"homephone": phone}},
            timeout=10,
        ).json()
        for result in reply["results"]:
            for event in result["events"]:
                committed[event["id"]] = (float(reply["committed_at"]), patient)
        n += 1
    return committed


def sink_times(sandbox_url: str, key: str) -> dict[str, float]:
    deliveries = requests.get(f"{sandbox_url}/_portal/webhooks", timeout=30).json()["deliveries"]
    times: dict[str, float] = {}
    for delivery in deliveries:
        payload = delivery["payload"]
        if not isinstance(payload, dict):
            continue
        event_id = payload.get("floor_event") if key == "floor" else (payload.get("data") or {}).get("source_event_id")
        if event_id and event_id not in times:
            times[event_id] = float(delivery["received_at"])
    return times


def wait_for(
    sandbox_url: str, key: str, wanted: set[str], timeout: float = 60, settled: Any = None
) -> dict[str, float]:
    """Sink receive times once every wanted event arrived (or `settled(times)` says so), or at the timeout."""
    deadline = time.monotonic() + timeout
    while True:
        times = sink_times(sandbox_url, key)
        done = settled(times) if settled else wanted <= set(times)
        if done or time.monotonic() > deadline:
            return times
        time.sleep(0.5)


def portal_saw(commits: dict[str, tuple[float, str]], seen: dict[str, float]) -> tuple[dict[str, float], int]:
    """When the portal held each change: at its own event, or at a bound when it rode on another's.

    The hub reads the patient from athena when it processes a notification. When a patient is
    edited again before an earlier notification is read, that read already carries the later edit
    and the later notification finds nothing new: one portal event announces both, and the later
    change has no event of its own. The event that carried it is one of this patient's events
    received after the change committed, from a change committed before it; the latest such
    receive time, or the first own event of a later change of the patient (which carries it too),
    whichever is sooner, bounds when the portal had it from above, so coalescing never flatters
    the latency. The bound holds once the hub has processed every notification and delivered
    every portal event (`hub_idle`): only then are all the candidates in. Returns event id →
    receive time, and how many changes were coalesced.
    """
    by_patient: dict[str, list[tuple[float, float]]] = {}
    for event_id, (committed_at, patient) in commits.items():
        if event_id in seen:
            by_patient.setdefault(patient, []).append((committed_at, seen[event_id]))
    received: dict[str, float] = {}
    coalesced = 0
    for event_id, (committed_at, patient) in commits.items():
        if event_id in seen:
            received[event_id] = seen[event_id]
            continue
        events = by_patient.get(patient, [])
        carried = [at for commit, at in events if commit < committed_at < at]
        later = [at for commit, at in events if commit > committed_at]
        bounds = ([max(carried)] if carried else []) + ([min(later)] if later else [])
        if bounds:
            received[event_id] = min(bounds)
            coalesced += 1
    return received, coalesced


def hub_idle() -> bool:
    """No notification waits to be read and no portal event waits to be delivered."""
    from sync.models import InboundEvent, PortalEvent

    return (
        not InboundEvent.objects.filter(state=InboundEvent.State.RECEIVED).exists()
        and not PortalEvent.objects.filter(state=PortalEvent.State.PENDING).exists()
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=20.0, help="EHR changes per second")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of changes per receiver")
    parser.add_argument("--athena-rate", type=float, default=200.0, help="athena's per-second limit in this run")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--pg", action="store_true")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    hub_env = {"ATHENA_RATE_LIMIT_PER_SECOND": str(args.athena_rate)}
    sandbox_config = {"throttle": {"per_second": args.athena_rate}}
    with live_stack(pg=args.pg, workers=args.workers, hub_env=hub_env, sandbox_config=sandbox_config) as stack:
        sink = f"{stack.sandbox_url}/_portal/webhooks"
        records = stack.sandbox("GET", "records/patients")["patients"]
        # Every patient, in turn: the longer between two edits of one chart, the fewer coalesce.
        patients = [str(p["patientid"]) for p in records]

        relay, relay_url = start_relay(sink)
        stack.sandbox("PUT", "config", json={"webhook": {"url": relay_url}})
        floor_commits = drive_edits(stack.sandbox_url, patients, args.rate, args.duration)
        floor_seen = wait_for(stack.sandbox_url, "floor", set(floor_commits))
        floor = [(floor_seen[e] - t) * 1000 for e, (t, _) in floor_commits.items() if e in floor_seen]
        relay.shutdown()

        stack.sandbox("PUT", "config", json={"webhook": {"url": f"{stack.hub_url}/webhooks/athena/"}})
        use_hub_database(stack)  # to see when the hub has read every notification
        # The floor's changes went to the relay, not to the hub: let the hub catch up on them from
        # athena's changed feed (its safety net) before its own run, so it starts level.
        stack.manage("shell", "-c", "from sync.tasks import poll_changed_feeds; poll_changed_feeds()")
        settle = time.monotonic() + 180
        while not hub_idle() and time.monotonic() < settle:
            time.sleep(0.5)
        time.sleep(1)
        first_delivery = stack.sandbox("GET", "webhooks")["count"]
        hub_commits = drive_edits(stack.sandbox_url, patients, args.rate, args.duration)
        hub_events = wait_for(
            stack.sandbox_url,
            "hub",
            set(hub_commits),
            timeout=max(60.0, 3 * args.duration),
            settled=lambda times: (
                set(hub_commits) <= set(times)
                or (hub_idle() and len(portal_saw(hub_commits, times)[0]) == len(hub_commits))
            ),
        )
        idle = hub_idle()
        if idle:
            hub_seen, coalesced = portal_saw(hub_commits, hub_events)
        else:  # the hub is still behind: a change without its own event cannot be placed yet
            hub_seen, coalesced = {e: hub_events[e] for e in hub_commits if e in hub_events}, 0
        from sync.models import InboundEvent

        backlog = InboundEvent.objects.filter(state=InboundEvent.State.RECEIVED).count()
        e2e = [(hub_seen[e] - t) * 1000 for e, (t, _) in hub_commits.items() if e in hub_seen]
        deliveries = stack.sandbox("GET", "webhooks")["deliveries"][first_delivery:]
        acks = [
            (d["acked_at"] - d["last_attempt_at"]) * 1000
            for d in deliveries
            if d["event_id"] in hub_commits and d["acked_at"] is not None and d["attempts"] == 1
        ]
        floor_p99 = percentile(floor, 99)
        result = {
            "rate_per_s": args.rate,
            "duration_s": args.duration,
            "changes": len(hub_commits),
            "delivered_to_portal": len(e2e),
            "missing": len(hub_commits) - len(e2e),
            "coalesced": coalesced,
            "hub_backlog_at_end": backlog,
            "ack_p50_ms": round(percentile(acks, 50), 1),
            "ack_p99_ms": round(percentile(acks, 99), 1),
            "e2e_p50_ms": round(percentile(e2e, 50), 1),
            "e2e_p95_ms": round(percentile(e2e, 95), 1),
            "e2e_p99_ms": round(percentile(e2e, 99), 1),
            "floor_p50_ms": round(percentile(floor, 50), 1),
            "floor_p99_ms": round(floor_p99, 1),
            "ratio": round(percentile(e2e, 99) / floor_p99, 2) if floor_p99 else None,
            "webhook_retries": sum(1 for d in deliveries if d["attempts"] > 1),
            "database": "postgresql+redis" if args.pg else "sqlite+orm",
        }
        emit(result, args.json)


if __name__ == "__main__":
    main()

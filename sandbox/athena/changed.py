"""Changed-data feeds: subscriptions per API client, destructive reads, re-fetch of processed records."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from sandbox.athena.records import parse_id
from sandbox.common import parse_athena_datetime
from sandbox.context import Call
from sandbox.events import FEED_EVENTS
from sandbox.routing import Route, v1
from sandbox.wire import NOT_SUBSCRIBED, ApiError, Reply, invalid, limit_offset

CHANGED_LIMITS = (1500, 5000)
ALL_EVENTS = "*"


def _subscriptions(call: Call, feed: str) -> dict[str, float]:
    rows = call.state.db.query(
        "SELECT eventname, created_at FROM changed_subscriptions WHERE client_id = ? AND feed = ?",
        (call.client_id or "", feed),
    )
    return {row["eventname"]: row["created_at"] for row in rows}


def _covered(subscriptions: dict[str, float], feed: str) -> dict[str, float]:
    """Event name → the time its subscription started."""
    if ALL_EVENTS in subscriptions:
        since = subscriptions[ALL_EVENTS]
        return {name: min(since, subscriptions.get(name, since)) for name in FEED_EVENTS[feed]}
    return {name: since for name, since in subscriptions.items() if name in FEED_EVENTS[feed]}


def _events(call: Call, feed: str) -> Reply:
    return Reply(body={"subscriptions": [{"eventname": name} for name in FEED_EVENTS[feed]]})


def _status(call: Call, feed: str) -> Reply:
    covered = _covered(_subscriptions(call, feed), feed)
    if not covered:
        status = "INACTIVE"
    elif len(covered) == len(FEED_EVENTS[feed]):
        status = "ACTIVE"
    else:
        status = "PARTIAL"
    return Reply(body={"status": status, "subscriptions": [{"eventname": name} for name in covered]})


def _eventname(call: Call, feed: str) -> str | None:
    name = call.params.get("eventname")
    if name is not None and name not in FEED_EVENTS[feed]:
        raise invalid(f"The value '{name}' did not match any of the enum values for EVENTNAME", ["eventname"])
    return name


def _subscribe(call: Call, feed: str) -> Reply:
    name = _eventname(call, feed) or ALL_EVENTS
    with call.state.db.write() as tx:
        tx.execute(
            "INSERT OR IGNORE INTO changed_subscriptions (client_id, feed, eventname, created_at) VALUES (?, ?, ?, ?)",
            (call.client_id or "", feed, name, call.now),
        )
        call.wrote = True
    return Reply(body={"success": True})


def _unsubscribe(call: Call, feed: str) -> Reply:
    name = _eventname(call, feed)
    client = call.client_id or ""
    with call.state.db.write() as tx:
        if name is None:
            tx.execute("DELETE FROM changed_subscriptions WHERE client_id = ? AND feed = ?", (client, feed))
        else:
            star = tx.execute(
                "SELECT created_at FROM changed_subscriptions WHERE client_id = ? AND feed = ? AND eventname = ?",
                (client, feed, ALL_EVENTS),
            ).fetchone()
            if star is not None:
                # "every event but this one": spell the rest out.
                tx.execute(
                    "DELETE FROM changed_subscriptions WHERE client_id = ? AND feed = ? AND eventname = ?",
                    (client, feed, ALL_EVENTS),
                )
                for other in FEED_EVENTS[feed]:
                    if other != name:
                        tx.execute(
                            "INSERT OR IGNORE INTO changed_subscriptions (client_id, feed, eventname, created_at) "
                            "VALUES (?, ?, ?, ?)",
                            (client, feed, other, star["created_at"]),
                        )
            tx.execute(
                "DELETE FROM changed_subscriptions WHERE client_id = ? AND feed = ? AND eventname = ?",
                (client, feed, name),
            )
        call.wrote = True
    return Reply(body={"success": True})


def _changed(call: Call, feed: str) -> Reply:
    params = call.params
    covered = _covered(_subscriptions(call, feed), feed)
    if not covered:
        raise ApiError(403, NOT_SUBSCRIBED)
    client = call.client_id or ""
    delay = float(call.config["changed"]["subscription_delay_seconds"])
    limit, _offset = limit_offset(params, *CHANGED_LIMITS)
    where = ["e.feed = ?"]
    args: list[Any] = [feed]
    names = list(covered)
    where.append(f"e.eventname IN ({','.join('?' * len(names))})")
    args.extend(names)
    for name, column in (("departmentid", "departmentid"), ("patientid", "patientid"), ("providerid", "providerid")):
        values = params.list(name)
        if values:
            where.append(f"e.{column} IN ({','.join('?' * len(values))})")
            args.extend(str(parse_id(value) if parse_id(value) is not None else value) for value in values)
    start_raw, end_raw = params.get("showprocessedstartdatetime"), params.get("showprocessedenddatetime")
    refetch = bool(start_raw or end_raw)
    if refetch:
        start = parse_athena_datetime(start_raw) if start_raw else None
        end = parse_athena_datetime(end_raw) if end_raw else None
        if (start_raw and start is None) or (end_raw and end is None):
            raise invalid(
                "Expecting format mm/dd/yyyy hh24:mi:ss.", ["showprocessedstartdatetime", "showprocessedenddatetime"]
            )
        where.append("p.processed_at >= ?")
        args.append(start.timestamp() if start else 0)
        where.append("p.processed_at <= ?")
        args.append(end.timestamp() if end else call.now)
        sql = (
            "SELECT e.seq, e.eventname, e.created_at, e.snapshot FROM changed_events e "  # noqa: S608 - placeholders only
            "JOIN changed_processed p ON p.seq = e.seq AND p.client_id = ? "
            f"WHERE {' AND '.join(where)} ORDER BY e.seq LIMIT ?"
        )
        rows = call.state.db.query(sql, [client, *args, limit])
    else:
        sql = (
            "SELECT e.seq, e.eventname, e.created_at, e.snapshot FROM changed_events e "  # noqa: S608 - placeholders only
            f"WHERE {' AND '.join(where)} AND NOT EXISTS (SELECT 1 FROM changed_processed p "
            "WHERE p.client_id = ? AND p.seq = e.seq) ORDER BY e.seq"
        )

        def select(conn: Any) -> list[Any]:
            candidates = conn.execute(sql, [*args, client]).fetchall()
            return [row for row in candidates if row["created_at"] >= covered[row["eventname"]] + delay][:limit]

        if params.bool("leaveunprocessed"):
            with call.state.db.connection() as conn:
                rows = select(conn)
        else:
            # Select and mark in one transaction, so two concurrent readers never get the same record.
            with call.state.db.write() as tx:
                rows = select(tx.conn)
                tx.conn.executemany(
                    "INSERT OR IGNORE INTO changed_processed (client_id, seq, processed_at) VALUES (?, ?, ?)",
                    [(client, row["seq"], call.now) for row in rows],
                )
                call.wrote = bool(rows)
    items = [json.loads(row["snapshot"]) for row in rows]
    return Reply(body={feed: items, "totalcount": len(items)})


def _bind(handler: Callable[[Call, str], Reply], feed: str) -> Callable[[Call], Reply]:
    def bound(call: Call) -> Reply:
        return handler(call, feed)

    bound.__name__ = f"{handler.__name__.strip('_')}_{feed}"
    return bound


ROUTES: list[Route] = []
for _feed in FEED_EVENTS:
    ROUTES.extend(
        [
            v1(f"/{_feed}/changed", "GET", _bind(_changed, _feed)),
            v1(f"/{_feed}/changed/subscription", "GET", _bind(_status, _feed)),
            v1(f"/{_feed}/changed/subscription", "POST", _bind(_subscribe, _feed)),
            v1(f"/{_feed}/changed/subscription", "DELETE", _bind(_unsubscribe, _feed)),
            v1(f"/{_feed}/changed/subscription/events", "GET", _bind(_events, _feed)),
        ]
    )

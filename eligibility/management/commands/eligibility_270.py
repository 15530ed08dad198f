"""Print the X12 270 for an eligibility request given as JSON."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from eligibility.x12 import EnvelopeOptions, RequestValidationError, build_270, request_from_dict


class Command(BaseCommand):
    help = (
        "Print the 005010X279A1 270 for REQUEST.json. Control numbers, trace number and BHT reference "
        "all derive from --control-number, so the same options give the same 270."
    )

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        """Declare the request file and envelope options."""
        parser.add_argument("--input", required=True, help="request JSON file, or - for standard input")
        parser.add_argument("--control-number", type=int, default=1, help="ISA13/GS06 control number (default 1)")
        parser.add_argument("--sender-id", default="HUBCLINIC")
        parser.add_argument("--sender-qualifier", default="ZZ")
        parser.add_argument("--receiver-id", default="PAYERSIM")
        parser.add_argument("--receiver-qualifier", default="ZZ")
        parser.add_argument("--trace-number", help="TRN02 (default: derived from the control number)")
        parser.add_argument("--originator-id", default="9000000000", help="TRN03, 10 characters")
        parser.add_argument("--reference", help="BHT03 (default: derived from the control number)")
        parser.add_argument("--created-at", help="ISO date-time for ISA/GS/BHT dates (default: now, UTC)")
        parser.add_argument("--production", action="store_true", help="ISA15=P instead of T")
        parser.add_argument("--real-time", action="store_true", help="BHT06=RT")
        parser.add_argument("--ack-requested", action="store_true", help="ISA14=1 (ask for a TA1)")
        parser.add_argument("--single-line", action="store_true", help="no line break after each segment")

    def handle(self, *args: Any, **options: Any) -> None:
        """Read, validate, build and print."""
        data = _read_json(options["input"])
        number = options["control_number"]
        try:
            request = request_from_dict(data)
            envelope = EnvelopeOptions(
                sender_id=options["sender_id"],
                sender_qualifier=options["sender_qualifier"],
                receiver_id=options["receiver_id"],
                receiver_qualifier=options["receiver_qualifier"],
                control_number=number,
                trace_number=options["trace_number"] or f"HUB-TRN-{number:09d}",
                originator_id=options["originator_id"],
                reference=options["reference"],
                created_at=_created_at(options["created_at"]),
                production=options["production"],
                real_time=options["real_time"],
                acknowledgment_requested=options["ack_requested"],
            )
            built = build_270(request, envelope, line_breaks=not options["single_line"])
        except RequestValidationError as error:
            raise CommandError(str(error)) from None
        self.stdout.write(built.text, ending="" if built.text.endswith("\n") else "\n")


def _read_json(source: str) -> Any:
    try:
        text = sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8")
    except OSError as error:
        raise CommandError(f"cannot read {source}: {error.strerror}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        # The position only: the message of JSONDecodeError is fine, but never the document.
        raise CommandError(f"{source} is not valid JSON (line {error.lineno}, column {error.colno})") from None


def _created_at(value: str | None) -> dt.datetime:
    if not value:
        return dt.datetime.now(tz=dt.UTC)
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        raise CommandError("--created-at must be an ISO date-time such as 2026-01-15T09:30") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)

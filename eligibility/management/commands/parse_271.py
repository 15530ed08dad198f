"""Print a parsed 271, 999 or TA1."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from eligibility.x12 import EligibilityResponse, X12ParseError, parse_response
from eligibility.x12.codes import BENEFIT_INFO, SERVICE_TYPE_LABELS


class Command(BaseCommand):
    help = (
        "Parse FILE (a 271, 999 or TA1). With --json, print transaction, status, accepted, rejections, "
        "subscriber, dependent, benefits (amount in cents, percent in percent), other_payers, pcp, dates "
        "and the matching/diagnostic keys."
    )

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        """Declare the file and output options."""
        parser.add_argument("file", help="X12 file, or - for standard input")
        parser.add_argument("--json", action="store_true", help="print the parsed response as JSON")
        parser.add_argument("--service-type", help="service type whose rows decide the status (default: 30)")

    def handle(self, *args: Any, **options: Any) -> None:
        """Read, parse and print."""
        source = options["file"]
        try:
            if source == "-":
                raw: bytes = sys.stdin.buffer.read()
            else:
                raw = Path(source).read_bytes()
        except OSError as error:
            raise CommandError(f"cannot read {source}: {error.strerror}") from None
        try:
            response = parse_response(raw, service_type=options["service_type"])
        except X12ParseError as error:
            raise CommandError(f"{source}: {error}") from None
        if options["json"]:
            self.stdout.write(json.dumps(response.to_dict(), indent=2))
        else:
            self.stdout.write(_summary(response))


def _summary(response: EligibilityResponse) -> str:
    lines = [f"{response.transaction}: {response.status}"]
    if response.accepted is not None:
        lines.append(f"accepted: {'yes' if response.accepted else 'no'}")
    for rejection in response.rejections:
        lines.append(f"rejection {rejection.code} ({rejection.loop or 'envelope'}): {rejection.message}")
    for benefit in response.patient_benefits:
        services = ", ".join(SERVICE_TYPE_LABELS.get(s, s) for s in benefit.service_types) or "plan"
        parts = [BENEFIT_INFO.get(benefit.info, benefit.info), services]
        if benefit.amount is not None:
            parts.append(f"${benefit.amount / 100:,.2f}")
        if benefit.percent is not None:
            parts.append(f"{benefit.percent:g}%")
        if benefit.in_network is not None:
            parts.append("in network" if benefit.in_network else "out of network")
        lines.append("benefit: " + " | ".join(parts))
    lines += [f"warning: {warning}" for warning in response.warnings]
    return "\n".join(lines)

"""`manage.py ocr_card FRONT [BACK] --json`: read an insurance card photo from the command line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from intake.ocr import CardImageError, OcrUnavailableError, read_card


class Command(BaseCommand):
    help = "Read an insurance card photo (front, optionally back) and print the fields found."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("front", help="photo of the card's front (JPEG, PNG or WebP)")
        parser.add_argument("back", nargs="?", help="photo of the card's back")
        parser.add_argument("--json", action="store_true", help="print the reading as JSON")

    def handle(self, *args: Any, **options: Any) -> None:
        front = _read_file(options["front"], "front")
        back = _read_file(options["back"], "back") if options["back"] else None
        try:
            reading = read_card(front, back)
        except CardImageError as error:
            # The message is ours and safe: it names the problem, never the content.
            raise CommandError(f"Cannot read the card image: {error}", returncode=2) from None
        except OcrUnavailableError as error:
            raise CommandError(str(error), returncode=3) from None
        if options["json"]:
            payload = {
                "fields": reading.fields,
                "confidence": reading.confidence,
                "needs_confirmation": reading.needs_confirmation,
                "payer": reading.payer,
                "alternatives": reading.alternatives,
                "timings": reading.timings,
            }
            self.stdout.write(json.dumps(payload, indent=2))
            return
        for name, value in reading.fields.items():
            flag = "  (confirm)" if reading.needs_confirmation.get(name) else ""
            self.stdout.write(f"{name}: {value}  [{reading.confidence.get(name, 0.0):.2f}]{flag}")
        self.stdout.write(f"payer: {reading.payer['name']} ({reading.payer['decision']}, {reading.payer['score']})")


def _read_file(path: str, side: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        raise CommandError(f"The {side} image file does not exist.", returncode=2) from None
    except IsADirectoryError:
        raise CommandError(f"The {side} image path is a directory.", returncode=2) from None
    except OSError:
        raise CommandError(f"The {side} image file cannot be read.", returncode=2) from None

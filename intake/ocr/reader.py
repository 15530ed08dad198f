"""`read_card`: the one entry point from card photo bytes to fields, confidences and a matched payer."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from intake.ocr.extract import (
    COPAY_KINDS,
    FIELD_NAMES,
    REREAD_BELOW,
    RULES_BY_NAME,
    Extraction,
    FieldReading,
    _reading,
    extract_fields,
    header_payer_name,
    merge_readings,
)
from intake.ocr.payers import match_payer
from intake.ocr.pipeline import Crop, Page, load_image, ocr_page, ocr_words, prepare_page, reread
from intake.ocr.words import Box

# Fields worth a second, character-restricted read, and the characters each may contain.
_DIGITS = "0123456789"
_CODE = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-"
_REREAD_CHARACTERS = {
    "member_id": _CODE,
    "group_number": _CODE,
    "rx_pcn": _CODE,
    "rx_group": _CODE,
    "payer_id": _CODE,
    "rx_bin": _DIGITS,
    "phone": _DIGITS + "()-.",
}
_FRONT_FIELDS = frozenset({"member_id", "group_number", "subscriber_name", "plan_type"})
# The fields whose absence on the front says the page pass went wrong and sparse mode may help.
_FRONT_ANCHORS = ("member_id",)
_BACK_ANCHORS = ("phone", "payer_id", "rx_bin")


@dataclass
class CardReading:
    """What was read from a card: field values, a confidence and a confirm flag per field, the payer."""

    fields: dict[str, Any]
    confidence: dict[str, float]
    needs_confirmation: dict[str, bool]
    payer: dict[str, Any]
    timings: dict[str, float]
    alternatives: dict[str, list[str]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """The reading as plain JSON-ready data."""
        return {
            "fields": self.fields,
            "confidence": self.confidence,
            "needs_confirmation": self.needs_confirmation,
            "payer": self.payer,
            "alternatives": self.alternatives,
            "timings": self.timings,
        }


def _pad(box: Box, page: Page, *, right_extra: float = 0.0) -> Box:
    height = box.bottom - box.top
    return Box(
        max(0, box.left - round(0.5 * height)),
        max(0, box.top - round(0.35 * height)),
        min(page.gray.width, box.right + round(0.5 * height + right_extra * height)),
        min(page.gray.height, box.bottom + round(0.35 * height)),
    )


def _needs_reread(name: str, reading: FieldReading) -> bool:
    # Ids are always read twice: on our measurements agreement between the page read and the
    # whitelisted crop read is the best sign a value is right, and the crop read is the better one
    # when they differ. Digit-only fields are rarely wrong; they get a second look only when doubtful.
    if _REREAD_CHARACTERS[name] == _CODE:
        return True
    return reading.ocr_conf < REREAD_BELOW or not reading.valid or reading.ambiguous


def _reread_fields(page: Page, extraction: Extraction) -> None:
    """Read doubtful id fields again from their crop with only the characters they may contain."""
    by_characters: dict[str, list[Crop]] = {}
    for name, characters in _REREAD_CHARACTERS.items():
        reading = extraction.fields.get(name)
        if reading is not None and reading.box is not None and _needs_reread(name, reading):
            by_characters.setdefault(characters, []).append(Crop(name, _pad(reading.box, page)))
        elif reading is None:
            # The label was read but not its value: read where the value should be.
            for index, region in enumerate(extraction.missing_values.get(name, [])[:3]):
                by_characters.setdefault(characters, []).append(Crop(f"{name}:{index}", _pad(region, page)))
    for characters, crops in by_characters.items():
        for key, words in reread(page.gray, crops, whitelist=characters).items():
            name = key.split(":")[0]
            if not words or (name in extraction.fields and key != name):
                continue
            text = " ".join(word.text for word in words)
            second = _reading(RULES_BY_NAME[name], text, words, place_penalty=1.0)
            if second is not None:
                second.box = extraction.fields[name].box if name in extraction.fields else None
            extraction.fields[name] = merge_readings(extraction.fields.get(name), second)  # type: ignore[assignment]
            if extraction.fields[name] is None:
                del extraction.fields[name]


def _merge(first: Extraction, second: Extraction, *, prefer_first: frozenset[str] = frozenset()) -> Extraction:
    """Combine two extractions field by field: the surer valid reading wins, or `first` for `prefer_first`."""
    merged = Extraction(missing_values={**second.missing_values, **first.missing_values})
    for name in set(first.fields) | set(second.fields):
        a, b = first.fields.get(name), second.fields.get(name)
        if a is None or b is None:
            merged.fields[name] = a or b  # type: ignore[assignment]
        elif name in prefer_first and a.valid:
            merged.fields[name] = a
        else:
            merged.fields[name] = a if (a.valid, a.confidence) >= (b.valid, b.confidence) else b
    for kind in set(first.copays) | set(second.copays):
        options = [c for c in (first.copays.get(kind), second.copays.get(kind)) if c]
        merged.copays[kind] = max(options, key=lambda c: c[1])
    for name in merged.fields:
        merged.missing_values.pop(name, None)
    return merged


def _reread_header(page: Page, extraction: Extraction) -> None:
    """Read the top of the card again from the grey page when no payer name matched our list."""
    width, height = page.gray.size
    band = page.gray.crop((0, 0, width, height // 4))
    words = ocr_words(band, psm=6)
    second = header_payer_name(words, page_height=height)
    first = extraction.fields.get("payer_name")
    if second and (first is None or (second.valid, second.confidence) > (first.valid, first.confidence)):
        extraction.fields["payer_name"] = second


def _drop_echoes(extraction: Extraction) -> None:
    """A "GRP" label read without its "Rx" gives the Rx group as the group number: drop that echo."""
    group, rx_group = extraction.fields.get("group_number"), extraction.fields.get("rx_group")
    if group and rx_group and group.value == rx_group.value:
        del extraction.fields["group_number"]


def read_side(data: bytes, side: str) -> tuple[Extraction, float]:
    """OCR one side of a card and extract its fields; returns the extraction and the seconds it took."""
    started = time.perf_counter()
    page = prepare_page(load_image(data))
    words = ocr_page(page)
    extraction = extract_fields(words, side=side, page_height=page.binary.height)
    anchors = _FRONT_ANCHORS if side == "front" else _BACK_ANCHORS
    if not any(name in extraction.fields for name in anchors):
        # One uniform block did not fit this layout; sparse-text mode finds scattered fields.
        sparse = extract_fields(ocr_words(page.binary, psm=11), side=side, page_height=page.binary.height)
        extraction = _merge(extraction, sparse)
    if side == "front" and not (extraction.fields.get("payer_name") and extraction.fields["payer_name"].valid):
        _reread_header(page, extraction)
    _reread_fields(page, extraction)
    _drop_echoes(extraction)
    return extraction, time.perf_counter() - started


def read_card(front: bytes, back: bytes | None = None) -> CardReading:
    """Read an insurance card from its front (and optional back) photo bytes.

    Raises CardImageError for an upload that is not a readable image, OcrUnavailableError when
    Tesseract is missing; neither message carries image content.
    """
    started = time.perf_counter()
    front_extraction, front_seconds = read_side(front, "front")
    timings = {"front_seconds": round(front_seconds, 3)}
    extraction = front_extraction
    if back is not None:
        back_extraction, back_seconds = read_side(back, "back")
        timings["back_seconds"] = round(back_seconds, 3)
        # The payer's name is printed on the front; a back-side "name" is a sponsor or a PBM.
        back_extraction.fields.pop("payer_name", None)
        # Where both sides give a value, the side that normally prints the field wins.
        extraction = _merge(front_extraction, back_extraction, prefer_first=_FRONT_FIELDS)

    fields: dict[str, Any] = {}
    confidence: dict[str, float] = {}
    confirm: dict[str, bool] = {}
    alternatives: dict[str, list[str]] = {}
    for name in FIELD_NAMES:
        reading = extraction.fields.get(name)
        fields[name] = reading.value if reading else None
        confidence[name] = reading.confidence if reading else 0.0
        confirm[name] = reading.needs_confirmation if reading else False
        if reading and reading.alternatives:
            alternatives[name] = list(reading.alternatives)
    fields["copays"] = {kind: extraction.copays[kind][0] for kind in COPAY_KINDS if kind in extraction.copays}
    copay_confidences = [extraction.copays[kind][1] for kind in fields["copays"]]
    confidence["copays"] = min(copay_confidences) if copay_confidences else 0.0
    confirm["copays"] = bool(copay_confidences) and min(copay_confidences) < 0.8

    payer = match_payer(fields["payer_name"], payer_id=fields["payer_id"], rx_bin=fields["rx_bin"])
    if payer["decision"] != "accept" and fields["payer_name"]:
        confirm["payer_name"] = True
    timings["total_seconds"] = round(time.perf_counter() - started, 3)
    return CardReading(
        fields=fields,
        confidence=confidence,
        needs_confirmation=confirm,
        payer=payer,
        timings=timings,
        alternatives=alternatives,
    )

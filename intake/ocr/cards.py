"""Seeded synthetic insurance cards (front and back) with their ground truth, for tests and benchmarks.

Every value on these cards is invented: names come from short lists of common name parts, ids are
random, phone numbers sit in the 555-01xx range reserved for fiction.
"""

from __future__ import annotations

import io
import math
import random
import string
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from intake.ocr.geometry import perspective_coefficients
from intake.ocr.payers import Payer, default_payers

# CR80 (85.60 x 53.98 mm) at 300 dpi.
CARD_WIDTH = 1011
CARD_HEIGHT = 638
MARGIN = 40

FRONT_LAYOUTS = ("label-left", "label-above", "two-column")
# The Medicare layout carries the MBI case; "back" is the reverse of every card.
LAYOUTS = (*FRONT_LAYOUTS, "medicare", "back")
CASES = ("plain", "confusable", "bcbs_prefix", "no_group", "mbi")
_CASE_WEIGHTS = (45, 20, 15, 10, 10)
PLAN_TYPES = ("PPO", "HMO", "EPO", "POS", "HDHP")
COPAY_KINDS = ("pcp", "specialist", "er", "urgent_care")

FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")
FONT_FAMILIES = {
    "sans": ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf"),
    "mono": ("DejaVuSansMono.ttf", "DejaVuSansMono-Bold.ttf"),
    "serif": ("DejaVuSerif.ttf", "DejaVuSerif-Bold.ttf"),
}

# The MBI alphabet: letters without S, L, O, I, B and Z.
MBI_LETTERS = "ACDEFGHJKMNPQRTUVWXY"

_FIRST_NAMES = (
    "JANE",
    "JOHN",
    "MARIA",
    "DAVID",
    "LINDA",
    "JAMES",
    "SOFIA",
    "ROBERT",
    "AISHA",
    "MICHAEL",
    "EMILY",
    "CARLOS",
    "GRACE",
    "DANIEL",
    "OLIVIA",
    "SAMUEL",
    "NOAH",
    "LUCIA",
    "BRIAN",
    "CHLOE",
    "ISAAC",
    "BELLA",
)
_LAST_NAMES = (
    "SAMPLE",
    "EXAMPLE",
    "TESTER",
    "RIVERA",
    "NGUYEN",
    "OKAFOR",
    "JOHNSON",
    "GARCIA",
    "MILLER",
    "O'BRIEN",
    "SMITH-LOPEZ",
    "BISHOP",
    "SOLIS",
    "BROOKS",
    "OLSEN",
    "IBARRA",
    "LINDQVIST",
    "DUBOIS",
    "SILVA",
    "BOOKER",
)

_LABELS = {
    "member_id": ("Member ID", "MEMBER ID", "ID", "Member ID #", "Subscriber ID", "Identification Number", "ID Number"),
    "group_number": ("Group", "Group No", "GROUP #", "Group Number", "GRP"),
    "plan_type": ("Plan", "Plan Type", "PLAN", "Product"),
    "subscriber_name": ("Member", "Name", "Member Name", "Subscriber", "SUBSCRIBER NAME"),
    "rx_bin": ("RxBIN", "Rx BIN", "BIN", "RXBIN"),
    "rx_pcn": ("RxPCN", "Rx PCN", "PCN", "RXPCN"),
    "rx_group": ("RxGRP", "Rx Group", "RXGRP", "Rx GRP"),
    "payer_id": ("Payer ID", "Claims Payer ID", "PAYER ID", "EDI Payer ID"),
    "phone": ("Member Services", "Customer Service", "MEMBER SERVICES", "Member Services Line"),
}
_COPAY_LABELS = {
    "pcp": ("PCP", "Office Visit", "Primary Care"),
    "specialist": ("Specialist", "SPEC", "Spec"),
    "er": ("ER", "Emergency Room", "Emergency"),
    "urgent_care": ("Urgent Care", "UC", "Urgent"),
}
_COPAY_DOLLARS = {
    "pcp": (10, 15, 20, 25, 30, 35, 40),
    "specialist": (30, 40, 45, 50, 60, 75, 80),
    "er": (100, 150, 200, 250, 300, 350, 500),
    "urgent_care": (25, 35, 50, 75, 100),
}
_BAND_DARK = ((22, 52, 120), (0, 92, 75), (110, 20, 40), (60, 30, 110), (30, 30, 30), (0, 84, 150))
_BAND_LIGHT = ((214, 228, 245), (222, 240, 228), (245, 232, 214), (236, 226, 244), (235, 235, 235))
_CARD_TINTS = ((255, 255, 255), (250, 250, 246), (246, 249, 255), (255, 252, 245))
_INK = ((20, 20, 20), (25, 35, 70), (45, 45, 45))
_DESKS = ((92, 84, 76), (60, 62, 66), (120, 100, 80), (40, 48, 40), (150, 150, 155))


@dataclass(frozen=True)
class DegradationLevel:
    """How hard a level degrades a card; every knob is drawn from these ranges with the card's seed."""

    rotation_degrees: float
    perspective: float  # corner jitter as a share of the card's size
    blur_radius: float
    noise_sigma: float
    jpeg_quality: int | None  # None: lossless PNG, a flatbed scan
    scale: tuple[float, float]
    glare_probability: float
    glare_alpha: float
    on_background: bool


DEGRADATION_LEVELS = {
    0: DegradationLevel(0, 0, 0, 0, None, (1.0, 1.0), 0, 0, on_background=False),
    1: DegradationLevel(2, 0.015, 0.4, 4, 85, (0.85, 1.0), 0.3, 0.35, on_background=True),
    2: DegradationLevel(4, 0.03, 0.8, 8, 70, (0.7, 0.85), 0.5, 0.5, on_background=True),
    3: DegradationLevel(8, 0.05, 1.2, 14, 50, (0.5, 0.65), 0.8, 0.7, on_background=True),
}


@dataclass(frozen=True)
class SyntheticCard:
    """One generated card: encoded image bytes per side and what is printed on it."""

    seed: int
    level: int
    layout: str
    case: str
    front: bytes
    back: bytes
    truth: dict[str, Any] = field(default_factory=dict)
    # Where the card's corners (tl, tr, br, bl) ended up in each side's image; None when the
    # image is the card itself. For testing the card finder.
    corners: dict[str, list[tuple[float, float]] | None] = field(default_factory=dict)

    def sides(self) -> tuple[bytes, bytes]:
        """Front and back bytes, in that order."""
        return self.front, self.back


@dataclass
class _Style:
    regular: str
    bold: str
    body_size: int
    band_dark: bool
    band_color: tuple[int, int, int]
    card_color: tuple[int, int, int]
    ink: tuple[int, int, int]
    accent: tuple[int, int, int]
    upper_labels: bool


@lru_cache(maxsize=64)
def _font(name: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(FONT_DIR / name), size)


def generate_card(seed: int, level: int = 0, *, layout: str | None = None, case: str | None = None) -> SyntheticCard:
    """Render a seeded synthetic card (front and back) degraded to `level` (0 clean … 3 heavy)."""
    if level not in DEGRADATION_LEVELS:
        raise ValueError(f"level must be one of {sorted(DEGRADATION_LEVELS)}")
    rng = random.Random(seed)  # noqa: S311 - seeded synthetic cards, reproducible by design
    case = case or rng.choices(CASES, weights=_CASE_WEIGHTS)[0]
    if case not in CASES:
        raise ValueError(f"case must be one of {CASES}")
    if case == "mbi":
        layout = "medicare"
    layout = layout or rng.choice(FRONT_LAYOUTS)
    if layout not in (*FRONT_LAYOUTS, "medicare"):
        raise ValueError(f"front layout must be one of {(*FRONT_LAYOUTS, 'medicare')}")
    if layout == "medicare":
        case = "mbi"

    truth, printed = _card_values(rng, case)
    style = _style(rng, layout)
    rx_on_front = layout == "two-column" or (layout != "medicare" and rng.random() < 0.4)
    truth_meta = {"rx_side": None if truth["rx_bin"] is None else ("front" if rx_on_front else "back")}

    front = _render_front(layout, truth, printed, style, rng, rx_on_front)
    back = _render_back(truth, printed, style, rng, rx_on_back=not rx_on_front and truth["rx_bin"] is not None)
    np_rng = np.random.default_rng(seed)
    spec = DEGRADATION_LEVELS[level]
    front_bytes, front_corners = _degrade(front, spec, rng, np_rng)
    back_bytes, back_corners = _degrade(back, spec, rng, np_rng)
    return SyntheticCard(
        seed=seed,
        level=level,
        layout=layout,
        case=case,
        front=front_bytes,
        back=back_bytes,
        truth={**truth, **truth_meta},
        corners={"front": front_corners, "back": back_corners},
    )


# --- values -------------------------------------------------------------------------------------


def _digits(rng: random.Random, count: int, alphabet: str = string.digits) -> str:
    return "".join(rng.choice(alphabet) for _ in range(count))


def _mbi(rng: random.Random) -> str:
    """A random id in the Medicare Beneficiary Identifier format."""
    alnum = MBI_LETTERS + string.digits
    return (
        rng.choice("123456789")
        + rng.choice(MBI_LETTERS)
        + rng.choice(alnum)
        + rng.choice(string.digits)
        + rng.choice(MBI_LETTERS)
        + rng.choice(alnum)
        + rng.choice(string.digits)
        + rng.choice(MBI_LETTERS)
        + rng.choice(MBI_LETTERS)
        + _digits(rng, 2)
    )


def _pick_payer(rng: random.Random, case: str) -> Payer:
    payers = default_payers().payers
    if case == "mbi":
        return next(p for p in payers if p.name == "Medicare")
    if case == "bcbs_prefix":
        blues = [p for p in payers if "BLUE" in p.name.upper() or "ANTHEM" in p.name.upper()]
        return rng.choice(blues)
    if rng.random() < 0.15:
        return payers[0]  # the synthetic EXAMPLE HEALTH PLAN heads the list
    return rng.choice([p for p in payers if p.type != "medicare"])


def _display_name(rng: random.Random, payer: Payer) -> str:
    if payer.name == "Medicare":
        return "MEDICARE HEALTH INSURANCE"
    spellings = [payer.name] * 3 + [alias for alias in payer.aliases if len(alias) >= 6]
    return rng.choice(spellings)


def _member_id(rng: random.Random, case: str) -> tuple[str, str]:
    """The id as the payer knows it, and as it is printed."""
    if case == "mbi":
        mbi = _mbi(rng)
        return mbi, f"{mbi[:4]}-{mbi[4:7]}-{mbi[7:]}"
    if case == "confusable":
        # Letters and digits Tesseract mixes up, side by side.
        prefix = _digits(rng, rng.randint(1, 3), "OISB")
        body = "".join(rng.choice("0158") if rng.random() < 0.7 else rng.choice(string.digits) for _ in range(9))
        return prefix + body, prefix + body
    if case == "bcbs_prefix":
        prefix = _digits(rng, 3, string.ascii_uppercase)
        body = _digits(rng, 9)
        return prefix + body, rng.choice((prefix + body, f"{prefix} {body}"))
    prefix = _digits(rng, rng.choice((0, 0, 1, 1, 2, 3)), string.ascii_uppercase)
    member_id = prefix + _digits(rng, rng.randint(8, 11))
    return member_id, member_id


def _phone(rng: random.Random) -> tuple[str, str]:
    area = rng.choice(("800", "888", "877", "866"))
    line = f"01{rng.randint(0, 99):02d}"
    digits = f"{area}555{line}"
    printed = rng.choice((f"1-{area}-555-{line}", f"({area}) 555-{line}", f"{area}.555.{line}", f"{area}-555-{line}"))
    return digits, printed


def _card_values(rng: random.Random, case: str) -> tuple[dict[str, Any], dict[str, str]]:
    """Ground truth, plus the printed form of values whose print differs from the truth."""
    payer = _pick_payer(rng, case)
    member_id, member_id_printed = _member_id(rng, case)
    first, last = rng.choice(_FIRST_NAMES), rng.choice(_LAST_NAMES)
    middle = rng.choice(("", "", f" {rng.choice(string.ascii_uppercase)}"))
    name = f"{first}{middle} {last}"
    name_printed = name if rng.random() < 0.6 else name.title()
    phone, phone_printed = _phone(rng)
    medicare = payer.type == "medicare"

    group: str | None
    if medicare or case == "no_group" or rng.random() < 0.08:
        group = None
    elif rng.random() < 0.6:
        group = _digits(rng, rng.randint(5, 8))
    else:
        group = _digits(rng, rng.randint(1, 2), string.ascii_uppercase) + _digits(rng, rng.randint(4, 6))

    rx: dict[str, str | None] = {"rx_bin": None, "rx_pcn": None, "rx_group": None}
    if not medicare:
        rx = {
            "rx_bin": _digits(rng, 6),
            "rx_pcn": rng.choice(
                (_digits(rng, 4), _digits(rng, rng.randint(2, 6), string.ascii_uppercase), "A" + _digits(rng, 1))
            ),
            "rx_group": rng.choice(
                (
                    "RX" + _digits(rng, 4),
                    _digits(rng, rng.randint(4, 8), string.ascii_uppercase),
                    _digits(rng, 2, string.ascii_uppercase) + _digits(rng, 3),
                )
            ),
        }

    payer_id: str | None = None
    if not medicare:
        known = sorted(payer.all_ids())
        payer_id = rng.choice(known) if known else rng.choice((_digits(rng, 5), "X" + _digits(rng, 4)))

    copays: dict[str, int] = {}
    if not medicare and rng.random() < 0.85:
        copays = {kind: rng.choice(_COPAY_DOLLARS[kind]) * 100 for kind in COPAY_KINDS}

    truth: dict[str, Any] = {
        "payer_name": _display_name(rng, payer),
        "payer_canonical": payer.name,
        "member_id": member_id,
        "group_number": group,
        "plan_type": None if medicare else rng.choice(PLAN_TYPES),
        "subscriber_name": name,
        **rx,
        "payer_id": payer_id,
        "phone": phone,
        "copays": copays,
    }
    printed = {"member_id": member_id_printed, "subscriber_name": name_printed, "phone": phone_printed}
    return truth, printed


# --- rendering ----------------------------------------------------------------------------------


def _style(rng: random.Random, layout: str) -> _Style:
    family = rng.choice(tuple(FONT_FAMILIES))
    regular, bold = FONT_FAMILIES[family]
    band_dark = layout == "medicare" or rng.random() < 0.5
    return _Style(
        regular=regular,
        bold=bold,
        body_size=rng.randint(29, 34),
        band_dark=band_dark,
        band_color=rng.choice(_BAND_DARK if band_dark else _BAND_LIGHT),
        card_color=rng.choice(_CARD_TINTS),
        ink=rng.choice(_INK),
        accent=rng.choice(_BAND_DARK),
        upper_labels=rng.random() < 0.5,
    )


class _Card:
    """A blank card side with the few drawing helpers the layouts share."""

    def __init__(self, style: _Style) -> None:
        self.style = style
        self.image = Image.new("RGB", (CARD_WIDTH, CARD_HEIGHT), style.card_color)
        self.draw = ImageDraw.Draw(self.image)

    def font(self, scale: float = 1.0, *, bold: bool = False) -> ImageFont.FreeTypeFont:
        return _font(self.style.bold if bold else self.style.regular, round(self.style.body_size * scale))

    def label(self, text: str) -> str:
        return text.upper() if self.style.upper_labels else text

    def text(self, xy: tuple[float, float], text: str, font: ImageFont.FreeTypeFont, fill: Any = None) -> float:
        """Draw text and return its right edge."""
        self.draw.text(xy, text, font=font, fill=fill or self.style.ink)
        return xy[0] + self.draw.textlength(text, font=font)

    def fitted_font(self, text: str, width: float, size: int, *, bold: bool = True) -> ImageFont.FreeTypeFont:
        name = self.style.bold if bold else self.style.regular
        while size > 18 and _font(name, size).getlength(text) > width:
            size -= 2
        return _font(name, size)

    def header(self, rng: random.Random, title: str, badge: str | None) -> int:
        """A coloured band with the payer's name (and sometimes the plan type); returns its bottom."""
        height = rng.randint(105, 130)
        self.draw.rectangle((0, 0, CARD_WIDTH, height), fill=self.style.band_color)
        on_band = (255, 255, 255) if self.style.band_dark else self.style.ink
        # A plain mark stands in for the payer's logo.
        logo = height - 40
        self.draw.ellipse((MARGIN, 20, MARGIN + logo, 20 + logo), outline=on_band, width=5)
        badge_width = 0.0
        if badge:
            badge_font = self.font(1.1, bold=True)
            badge_width = badge_font.getlength(badge) + 20
            self.text(
                (CARD_WIDTH - MARGIN - badge_width + 10, (height - badge_font.size) / 2), badge, badge_font, on_band
            )
        left = MARGIN + logo + 25
        title_font = self.fitted_font(title, CARD_WIDTH - left - MARGIN - badge_width - 20, rng.randint(40, 48))
        self.text((left, (height - title_font.size) / 2 - 4), title, title_font, on_band)
        return height

    def watermark(self, rng: random.Random) -> None:
        if rng.random() < 0.5:
            tint = tuple(min(255, c - 14) for c in self.style.card_color)
            cx, cy, r = rng.randint(500, 900), rng.randint(300, 560), rng.randint(120, 220)
            self.draw.ellipse((cx - r, cy - r, cx + r, cy + r), outline=tint, width=18)

    def fine_print(self, y: float, lines: tuple[str, ...]) -> None:
        small = self.font(0.6)
        for line in lines:
            self.text((MARGIN, y), line, small, (90, 90, 90))
            y += small.size + 6


def _copay_lines(rng: random.Random, copays: dict[str, int], per_line: int) -> list[str]:
    cents_style = rng.random() < 0.2
    items = []
    for kind in COPAY_KINDS:
        dollars = copays[kind] // 100
        amount = f"${dollars}.00" if cents_style else f"${dollars}"
        items.append(f"{rng.choice(_COPAY_LABELS[kind])} {amount}")
    return ["   ".join(items[i : i + per_line]) for i in range(0, len(items), per_line)]


def _rx_rows(card: _Card, rng: random.Random, truth: dict[str, Any]) -> list[tuple[str, str]]:
    return [
        (card.label(rng.choice(_LABELS["rx_bin"])), truth["rx_bin"]),
        (card.label(rng.choice(_LABELS["rx_pcn"])), truth["rx_pcn"]),
        (card.label(rng.choice(_LABELS["rx_group"])), truth["rx_group"]),
    ]


def _render_front(
    layout: str, truth: dict[str, Any], printed: dict[str, str], style: _Style, rng: random.Random, rx_on_front: bool
) -> Image.Image:
    card = _Card(style)
    card.watermark(rng)
    badge = truth["plan_type"] if truth["plan_type"] and rng.random() < 0.3 else None
    top: float = card.header(rng, truth["payer_name"], badge) + 28
    plan_row = [] if badge or not truth["plan_type"] else [("plan_type", truth["plan_type"])]
    rows: list[tuple[str, str]] = [("subscriber_name", printed["subscriber_name"]), ("member_id", printed["member_id"])]
    if truth["group_number"]:
        rows.append(("group_number", truth["group_number"]))
    rows += plan_row
    labelled = [(card.label(rng.choice(_LABELS[key])), value) for key, value in rows]
    rx = _rx_rows(card, rng, truth) if rx_on_front else []
    body, bold_body = card.font(), card.font(bold=True)
    line = body.size + 20

    if layout == "label-left":
        colon = rng.choice((":", ""))
        label_bold = rng.random() < 0.5
        y = top
        for label, value in labelled:
            x = card.text((MARGIN, y), f"{label}{colon} ", bold_body if label_bold else body)
            card.text((x + 6, y), value, body)
            y += line
        if rx:
            # The Rx block sits right of the rows when there is room, else under them.
            rows_right = max(MARGIN + body.getlength(f"{label}{colon}  {value}") for label, value in labelled)
            rx_x = max(620, rows_right + 70)
            rx_width = max(body.getlength(f"{label}  {value}") for label, value in rx)
            if rx_x + rx_width > CARD_WIDTH - MARGIN:
                rx_x, rx_y = MARGIN, y
            else:
                rx_y = top + line * max(0, len(labelled) - len(rx))
            for label, value in rx:
                x = card.text((rx_x, rx_y), f"{label} ", body)
                card.text((x + 6, rx_y), value, body)
                rx_y += line
            y = max(y, rx_y)
        if truth["copays"]:
            small = card.font(0.85)
            for text in _copay_lines(rng, truth["copays"], 2):
                card.text((MARGIN, y + 8), text, small)
                y += small.size + 14

    elif layout == "label-above":
        label_font, value_font = card.font(0.7), card.font(1.05, bold=rng.random() < 0.5)
        cells = labelled + rx
        columns = (MARGIN, 400, 720) if len(cells) > 6 else (MARGIN, 520)
        y = top - 8
        # The name takes a full row; the rest fill a grid.
        first_label, first_value = cells[0]
        card.text((MARGIN, y), first_label, label_font, style.accent)
        card.text((MARGIN, y + label_font.size + 4), first_value, value_font)
        y += label_font.size + value_font.size + 22
        for start in range(1, len(cells), len(columns)):
            for column, (label, value) in zip(columns, cells[start : start + len(columns)], strict=False):
                card.text((column, y), label, label_font, style.accent)
                card.text((column, y + label_font.size + 4), value, value_font)
            y += label_font.size + value_font.size + 22
        if truth["copays"]:
            for text in _copay_lines(rng, truth["copays"], 4):
                small = card.fitted_font(text, CARD_WIDTH - 2 * MARGIN, round(style.body_size * 0.8), bold=False)
                card.text((MARGIN, y + 4), text, small)
                y += small.size + 12

    elif layout == "two-column":
        y = top
        for label, value in labelled:
            x = card.text((MARGIN, y), f"{label}:", bold_body)
            if x + 14 + body.getlength(value) > 560:
                # Too long for one line in the column: the value goes under its label.
                y += line - 8
                x = MARGIN + 4
            card.text((x + 14, y), value, body)
            y += line + 6
        right = 600
        card.draw.line((right - 30, top, right - 30, CARD_HEIGHT - 40), fill=style.accent, width=3)
        y = top
        small = card.font(0.9)
        for label, value in rx:
            x = card.text((right, y), f"{label}:", small)
            card.text((x + 14, y), value, small)
            y += small.size + 16
        if truth["copays"]:
            y += 10
            for kind in COPAY_KINDS:
                x = card.text((right, y), rng.choice(_COPAY_LABELS[kind]), small)
                card.text((max(x + 30, right + 240), y), f"${truth['copays'][kind] // 100}", small)
                y += small.size + 12

    else:  # medicare
        label_font, value_font = card.font(0.7), card.font(1.1, bold=True)
        y = top
        for label, value in (("Name/Nombre", printed["subscriber_name"]), ("Medicare Number", printed["member_id"])):
            card.text((MARGIN, y), label, label_font, style.accent)
            card.text((MARGIN, y + label_font.size + 4), value, value_font)
            y += label_font.size + value_font.size + 26
        small = card.font(0.75)
        card.text((MARGIN, y), "Entitled to", small, style.accent)
        card.text((520, y), "Coverage starts", small, style.accent)
        for part in ("HOSPITAL (PART A)", "MEDICAL (PART B)"):
            y += small.size + 10
            card.text((MARGIN, y), part, small)
            card.text((520, y), f"{rng.randint(1, 12):02d}-01-20{rng.randint(10, 25)}", small)
    return card.image


def _render_back(
    truth: dict[str, Any], printed: dict[str, str], style: _Style, rng: random.Random, rx_on_back: bool
) -> Image.Image:
    card = _Card(style)
    body = card.font(0.9)
    line = body.size + 16
    rows: list[tuple[str, str]] = [(card.label(rng.choice(_LABELS["phone"])), printed["phone"])]
    rows.append((card.label("Provider Services"), _phone(rng)[1]))
    if truth["rx_bin"]:
        rows.append((card.label("Pharmacy Help Desk"), _phone(rng)[1]))
    rng.shuffle(rows)
    if truth["payer_id"]:
        rows.append((card.label(rng.choice(_LABELS["payer_id"])), truth["payer_id"]))
    y: float = MARGIN
    for label, value in rows:
        x = card.text((MARGIN, y), f"{label}:", body)
        card.text((x + 14, y), value, body)
        y += line
    if truth["payer_id"]:
        card.text(
            (MARGIN, y), f"Send claims to: PO Box {rng.randint(1000, 99999)}, Springfield, ST 00000", card.font(0.7)
        )
        y += line
    if rx_on_back:
        y += 6
        box_top = y
        card.text((MARGIN + 16, y + 10), card.label("Pharmacy Benefits"), card.font(0.8, bold=True), style.accent)
        y += line
        for label, value in _rx_rows(card, rng, truth):
            x = card.text((MARGIN + 16, y), f"{label}", body)
            card.text((x + 18, y), value, body)
            y += line
        card.draw.rectangle((MARGIN, box_top, CARD_WIDTH - MARGIN, y + 4), outline=style.accent, width=3)
        y += 16
    card.fine_print(
        max(y + 10, CARD_HEIGHT - 110),
        (
            "This card does not guarantee coverage. Present it at every visit.",
            "Misuse of this card may be grounds for loss of benefits.",
        ),
    )
    return card.image


# --- degradations -------------------------------------------------------------------------------


def _add_glare(image: Image.Image, spec: DegradationLevel, rng: random.Random) -> Image.Image:
    if rng.random() >= spec.glare_probability:
        return image
    width, height = image.size
    cx, cy = rng.uniform(0.2, 0.8) * width, rng.uniform(0.25, 0.8) * height
    rx, ry = rng.uniform(0.12, 0.25) * width, rng.uniform(0.15, 0.3) * height
    ys, xs = np.mgrid[0:height, 0:width]
    falloff = np.exp(-(((xs - cx) / rx) ** 2 + ((ys - cy) / ry) ** 2))
    alpha = (spec.glare_alpha * falloff)[..., None]
    pixels = np.asarray(image, dtype=np.float32)
    return Image.fromarray((pixels * (1 - alpha) + 255 * alpha).astype(np.uint8))


def _place_on_desk(
    image: Image.Image, spec: DegradationLevel, rng: random.Random, np_rng: np.random.Generator
) -> tuple[Image.Image, list[tuple[float, float]]]:
    """Photograph the card lying on a desk: a margin of background, a rotation and a perspective tilt."""
    width, height = image.size
    margin = rng.uniform(0.06, 0.12)
    canvas_w, canvas_h = round(width * (1 + 2 * margin)), round(height * (1 + 2 * margin))
    desk = np.full((canvas_h, canvas_w, 3), rng.choice(_DESKS), dtype=np.float32)
    # Low-frequency shading so the desk is not one flat colour.
    shade = np_rng.normal(0, 18, (6, 9)).astype(np.float32)
    shade_img = Image.fromarray(shade).resize((canvas_w, canvas_h), Image.Resampling.BICUBIC)
    desk += np.asarray(shade_img, dtype=np.float32)[..., None]
    background = Image.fromarray(np.clip(desk, 0, 255).astype(np.uint8))

    angle = math.radians(rng.uniform(-spec.rotation_degrees, spec.rotation_degrees))
    cx, cy = canvas_w / 2, canvas_h / 2
    corners = [(-width / 2, -height / 2), (width / 2, -height / 2), (width / 2, height / 2), (-width / 2, height / 2)]
    jitter = spec.perspective * width
    target = []
    for x, y in corners:
        rx = x * math.cos(angle) - y * math.sin(angle) + rng.uniform(-jitter, jitter)
        ry = x * math.sin(angle) + y * math.cos(angle) + rng.uniform(-jitter, jitter)
        target.append((cx + rx, cy + ry))
    source = [(0.0, 0.0), (float(width), 0.0), (float(width), float(height)), (0.0, float(height))]
    coefficients = perspective_coefficients(source, target)
    warped = image.transform((canvas_w, canvas_h), Image.Transform.PERSPECTIVE, coefficients, Image.Resampling.BICUBIC)
    mask = Image.new("L", image.size, 255).transform(
        (canvas_w, canvas_h), Image.Transform.PERSPECTIVE, coefficients, Image.Resampling.BILINEAR
    )
    background.paste(warped, (0, 0), mask)
    return background, target


def _degrade(
    image: Image.Image, spec: DegradationLevel, rng: random.Random, np_rng: np.random.Generator
) -> tuple[bytes, list[tuple[float, float]] | None]:
    """Apply one level's degradations in the order a phone camera would, then encode."""
    image = _add_glare(image, spec, rng)
    corners: list[tuple[float, float]] | None = None
    if spec.on_background:
        image, corners = _place_on_desk(image, spec, rng, np_rng)
    if spec.blur_radius:
        image = image.filter(ImageFilter.GaussianBlur(rng.uniform(0.5, 1.0) * spec.blur_radius))
    scale = rng.uniform(*spec.scale)
    if scale < 1.0:
        image = image.resize((round(image.width * scale), round(image.height * scale)), Image.Resampling.BILINEAR)
        corners = [(x * scale, y * scale) for x, y in corners] if corners else None
    if spec.noise_sigma:
        pixels = np.asarray(image, dtype=np.float32)
        pixels = pixels + np_rng.normal(0, spec.noise_sigma, pixels.shape).astype(np.float32)
        image = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
    buffer = io.BytesIO()
    if spec.jpeg_quality is None:
        image.save(buffer, format="PNG")
    else:
        image.save(buffer, format="JPEG", quality=spec.jpeg_quality)
    return buffer.getvalue(), corners

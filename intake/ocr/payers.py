"""Match a payer name read from a card against the payer list we ship (`intake/data/payers.json`)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from rapidfuzz import fuzz, process
from rapidfuzz.distance import Levenshtein

PAYERS_PATH = Path(__file__).resolve().parent.parent / "data" / "payers.json"

ACCEPT_SCORE = 90
ASK_STAFF_SCORE = 75
# Aliases this short ("UHC", "KP") match only exactly: fuzzily they hit any stray token on a card.
MIN_FUZZY_ALIAS_LENGTH = 4
# Candidates within this many points of the best are close enough for the printed ids to decide.
TIE_MARGIN = 3

# How plans print their names varies freely in these words, so they carry no signal for matching.
_FILLER_WORDS = frozenset({"THE", "OF", "AND", "INC", "CO", "COMPANY", "CORP", "CORPORATION", "LLC", "PLC"})
_SPELLINGS = (
    (re.compile(r"\bBCBS\b"), "BLUE CROSS BLUE SHIELD"),
    (re.compile(r"BLUECROSS"), "BLUE CROSS"),
    (re.compile(r"BLUESHIELD"), "BLUE SHIELD"),
)


@dataclass(frozen=True)
class Payer:
    name: str
    type: str
    aliases: tuple[str, ...] = ()
    payer_ids: dict[str, dict[str, str]] = field(default_factory=dict)
    rx_bins: tuple[str, ...] = ()

    def all_ids(self) -> set[str]:
        """Every configured payer id, across clearinghouses and transactions."""
        return {payer_id.upper() for ids in self.payer_ids.values() for payer_id in ids.values()}


@dataclass(frozen=True)
class PayerList:
    payers: tuple[Payer, ...]
    exact: dict[str, Payer]
    fuzzy_choices: tuple[str, ...]
    fuzzy_owners: tuple[Payer, ...]


def normalize_payer_name(text: str) -> str:
    """Upper-case, spell out BCBS, turn & into AND, and drop punctuation and filler words."""
    text = text.upper().replace("&", " AND ")
    for pattern, replacement in _SPELLINGS:
        text = pattern.sub(replacement, text)
    text = re.sub(r"[^A-Z0-9 ]+", " ", text)
    return " ".join(word for word in text.split() if word not in _FILLER_WORDS)


def load_payers(path: Path | None = None) -> PayerList:
    """Read a payer list file and index it for exact and fuzzy lookup."""
    raw = json.loads((path or PAYERS_PATH).read_text(encoding="utf-8"))
    payers = tuple(
        Payer(
            name=entry["name"],
            type=entry["type"],
            aliases=tuple(entry.get("aliases", ())),
            payer_ids={house: dict(ids) for house, ids in entry.get("payer_ids", {}).items()},
            rx_bins=tuple(entry.get("rx_bins", ())),
        )
        for entry in raw["payers"]
    )
    exact: dict[str, Payer] = {}
    choices: list[str] = []
    owners: list[Payer] = []
    for payer in payers:
        for spelling in (payer.name, *payer.aliases):
            key = normalize_payer_name(spelling)
            if not key:
                continue
            exact.setdefault(key, payer)
            if len(key) >= MIN_FUZZY_ALIAS_LENGTH:
                choices.append(key)
                owners.append(payer)
    return PayerList(payers=payers, exact=exact, fuzzy_choices=tuple(choices), fuzzy_owners=tuple(owners))


@lru_cache(maxsize=1)
def default_payers() -> PayerList:
    """The payer list shipped with the hub, read once per process."""
    return load_payers()


def _decision(score: float) -> str:
    if score >= ACCEPT_SCORE:
        return "accept"
    if score >= ASK_STAFF_SCORE:
        return "ask_staff"
    return "reject"


def _result(payer: Payer | None, score: float) -> dict[str, Any]:
    decision = _decision(score)
    if payer is None or decision == "reject":
        return {"name": None, "score": round(score, 1), "decision": "reject", "payer_ids": {}, "type": None}
    return {
        "name": payer.name,
        "score": round(score, 1),
        "decision": decision,
        "payer_ids": {house: dict(ids) for house, ids in payer.payer_ids.items()},
        "type": payer.type,
    }


def _allowed_typos(word: str) -> int:
    return 0 if len(word) <= 3 else 1 if len(word) <= 7 else 2


def _word_coverage(query_words: list[str], choice_words: list[str]) -> float:
    """Share of the choice's letters found in the query, word by word, allowing a typo or two per word."""
    total = sum(len(word) for word in choice_words)
    found = 0
    for word in choice_words:
        distance = min((Levenshtein.distance(word, candidate) for candidate in query_words), default=len(word))
        if distance <= _allowed_typos(word):
            found += len(word) - distance
    return 100 * found / total if total else 0.0


def _score(query: str, choice: str, **_: Any) -> float:
    score = fuzz.token_set_ratio(query, choice)
    query_words, choice_words = query.split(), choice.split()
    # token_set_ratio gives 100 when the query's words are a subset of the choice's ("HEALTH" vs
    # "HEALTH NET"); a line that holds only part of a payer's name is not that payer.
    if not set(choice_words) <= set(query_words):
        score = min(score, _word_coverage(query_words, choice_words))
    # OCR splits and joins words ("AMERI GROUP", "BLUECROSS"): compare without spaces too, when
    # the two are about as long (else "HEALTH" would nearly match "HEALTHNET").
    joined_query, joined_choice = query.replace(" ", ""), choice.replace(" ", "")
    if len(joined_query) >= 0.85 * len(joined_choice):
        score = max(score, fuzz.ratio(joined_query, joined_choice))
    return float(score)


@dataclass(frozen=True)
class PayerMatch:
    """The payer a name matched, the alias it matched through, and the score (0-100)."""

    payer: Payer | None
    alias: str
    score: float


def find_payer(
    name: str | None,
    *,
    payer_id: str | None = None,
    rx_bin: str | None = None,
    payers: PayerList | None = None,
) -> PayerMatch:
    """The best payer for a printed name; the printed payer id and RxBIN break near-ties."""
    payer_list = payers or default_payers()
    query = normalize_payer_name(name or "")
    if not query:
        return PayerMatch(None, "", 0.0)
    if query in payer_list.exact:
        return PayerMatch(payer_list.exact[query], query, 100.0)

    # Score every alias, keep each payer's best, then let the printed ids pick among near-ties.
    hits = process.extract(query, payer_list.fuzzy_choices, scorer=_score, limit=None, score_cutoff=ASK_STAFF_SCORE)
    best_by_payer: dict[str, tuple[float, int, str, Payer]] = {}
    for choice, score, index in hits:
        owner = payer_list.fuzzy_owners[index]
        specificity = len(choice.split())
        current = best_by_payer.get(owner.name)
        if current is None or (score, specificity) > current[:2]:
            best_by_payer[owner.name] = (score, specificity, choice, owner)
    if not best_by_payer:
        return PayerMatch(None, "", 0.0)

    top_score = max(entry[0] for entry in best_by_payer.values())
    printed_id = (payer_id or "").upper()
    printed_bin = rx_bin or ""

    def rank(entry: tuple[float, int, str, Payer]) -> tuple[bool, float, int]:
        score, specificity, _, owner = entry
        near_tie = score >= top_score - TIE_MARGIN
        id_evidence = near_tie and (
            (bool(printed_id) and printed_id in owner.all_ids()) or (bool(printed_bin) and printed_bin in owner.rx_bins)
        )
        # More words matched means the more specific plan ("... of Texas" over plain BCBS).
        return (id_evidence, score, specificity)

    score, _, alias, payer = max(best_by_payer.values(), key=rank)
    return PayerMatch(payer, alias, float(score))


def match_payer(
    name: str | None,
    *,
    payer_id: str | None = None,
    rx_bin: str | None = None,
    payers: PayerList | None = None,
) -> dict[str, Any]:
    """Match a printed payer name: `{"name", "score", "decision", "payer_ids", "type"}`."""
    found = find_payer(name, payer_id=payer_id, rx_bin=rx_bin, payers=payers)
    return _result(found.payer, found.score)

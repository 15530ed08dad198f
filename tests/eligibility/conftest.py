"""Shared fixtures for the eligibility tests: the shared X12 folder and a pyx12 validator."""

from __future__ import annotations

import importlib.util
import io
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
SHARED_X12 = REPO.parent / "shared" / "x12"
SAMPLES = SHARED_X12 / "samples"
FIXTURES = REPO / "tests" / "fixtures" / "x12"

needs_shared = pytest.mark.skipif(
    not SHARED_X12.is_dir(), reason="../shared/x12 (samples and pyx12 maps) is not beside the repository"
)


def fixture_text(name: str) -> str:
    """One of our own X12 fixtures."""
    return (FIXTURES / name).read_text(encoding="ascii")


@pytest.fixture(scope="session")
def pyx12_map_dir(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A complete pyx12 map folder with the X279 maps, built once per session."""
    if not SHARED_X12.is_dir():
        pytest.skip("../shared/x12 is not beside the repository")
    if importlib.util.find_spec("pyx12") is None:
        pytest.skip("pyx12 is not installed")
    destination = tmp_path_factory.mktemp("pyx12-maps")
    script = SHARED_X12 / "pyx12_mapdir.py"
    completed = subprocess.run(
        [sys.executable, str(script), str(destination)], check=True, capture_output=True, text=True
    )
    return completed.stdout.strip()


def _collect_errors(node: Any, found: list[str], where: str = "") -> None:
    if isinstance(node, dict):
        label = node.get("seg_id") or node.get("trn_set_id") or node.get("gs_control_num") or where
        for error in node.get("errors", []) or []:
            found.append(f"{label}: {error.get('err_cde')} {error.get('err_str')}")
        for value in node.values():
            if isinstance(value, list | dict):
                _collect_errors(value, found, str(label))
    elif isinstance(node, list):
        for item in node:
            _collect_errors(item, found, where)


@pytest.fixture(scope="session")
def pyx12_errors(pyx12_map_dir: str) -> Callable[[str], list[str]]:
    """A function returning every error pyx12 reports for an X12 text (empty list = valid)."""
    import pyx12.params
    import pyx12.x12n_document

    def validate(text: str) -> list[str]:
        report = io.StringIO()
        params = pyx12.params.params()
        valid = pyx12.x12n_document.x12n_document(
            params,
            io.StringIO(text),
            fd_997=None,
            fd_html=None,
            fd_xmldoc=None,
            fd_json=report,
            map_path=pyx12_map_dir,
        )
        errors: list[str] = []
        _collect_errors(json.loads(report.getvalue() or "{}"), errors)
        if not valid and not errors:
            errors.append("pyx12 reported the document invalid without details")
        return errors

    return validate

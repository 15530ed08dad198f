"""Card images on disk: Fernet-encrypted files in a private folder no URL maps to.

Files are named by a random token (never by patient or card), written atomically with owner-only
permissions, and read back only through the staff image view and the athena upload.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import time
from pathlib import Path

from django.conf import settings

from hub.fields import decrypt_bytes, encrypt_bytes

SUFFIX = ".card"


def card_dir() -> Path:
    folder = Path(settings.HUB_PRIVATE_MEDIA_DIR) / "cards"
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    return folder


def _path(file_name: str) -> Path:
    # Names are ours (a token and a suffix); anything else is refused rather than joined into a path.
    if not file_name.endswith(SUFFIX) or not file_name[: -len(SUFFIX)].isalnum():
        raise ValueError("not a card file name")
    return card_dir() / file_name


def card_file_store(data: bytes) -> str:
    """Encrypt and write one image; returns its file name."""
    file_name = secrets.token_hex(16) + SUFFIX
    target = _path(file_name)
    temporary = target.with_suffix(".part")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(encrypt_bytes(data))
    temporary.replace(target)
    return file_name


def card_file_read(file_name: str) -> bytes:
    """The decrypted image; FileNotFoundError once purged."""
    return decrypt_bytes(_path(file_name).read_bytes())


def card_file_delete(file_name: str) -> bool:
    """Remove one file; False when it was already gone."""
    try:
        _path(file_name).unlink()
    except FileNotFoundError:
        return False
    return True


def orphan_files_delete(*, older_than_seconds: float, known: set[str]) -> int:
    """Delete files no image row names (a request that rolled back after writing), past a grace period."""
    cutoff = time.time() - older_than_seconds
    deleted = 0
    for path in card_dir().iterdir():
        with contextlib.suppress(FileNotFoundError):
            if path.name not in known and path.stat().st_mtime < cutoff:
                path.unlink()
                deleted += 1
    return deleted

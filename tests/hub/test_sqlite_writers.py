"""SQLite writers take turns through the lock file: a second writer waits for the first, then goes on."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from django.db import connection, transaction

from hub.models import Practice

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "sqlite", reason="the writers' lock is SQLite's"),
]


class Writer(threading.Thread):
    """Another thread (its own connection) writing one practice in a transaction."""

    def __init__(self, athena_id: str) -> None:
        super().__init__(daemon=True)
        self.athena_id = athena_id
        self.started = threading.Event()
        self.finished_at: float | None = None
        self.error: BaseException | None = None

    def run(self) -> None:
        self.started.set()
        try:
            with transaction.atomic():
                Practice.objects.create(athena_practice_id=self.athena_id, name="Synthetic Writer Practice")
            self.finished_at = time.monotonic()
        except BaseException as exc:
            self.error = exc
        finally:
            connection.close()


def waiting_writer(athena_id: str) -> Writer:
    writer = Writer(athena_id)
    writer.start()
    writer.started.wait(5)
    time.sleep(0.3)  # long enough to have written, were it not waiting
    return writer


def names() -> set[str]:
    return set(Practice.objects.values_list("athena_practice_id", flat=True))


def test_a_second_writer_waits_for_the_open_transaction_then_commits() -> None:
    with transaction.atomic():
        Practice.objects.create(athena_practice_id="910001", name="Synthetic First Practice")
        writer = waiting_writer("910002")
        assert writer.finished_at is None and writer.is_alive()
        committed_at = time.monotonic()
    writer.join(10)
    assert writer.error is None
    assert writer.finished_at is not None and writer.finished_at > committed_at
    assert {"910001", "910002"} <= names()


def test_a_rolled_back_transaction_lets_the_waiting_writer_in() -> None:
    writer: Writer | None = None
    with pytest.raises(RuntimeError), transaction.atomic():
        Practice.objects.create(athena_practice_id="910003", name="Synthetic Undone Practice")
        writer = waiting_writer("910004")
        assert writer.finished_at is None
        raise RuntimeError("the request failed")
    assert writer is not None
    writer.join(10)
    assert writer.error is None and writer.finished_at is not None
    assert "910004" in names() and "910003" not in names()


@pytest.mark.parametrize(
    "end",
    [
        pytest.param(lambda: connection.close(), id="connection closed mid-transaction"),
        pytest.param(lambda: None, id="transaction committed"),
    ],
)
def test_the_next_transaction_of_another_thread_does_not_wait_once_one_has_ended(end: Callable[[], None]) -> None:
    with transaction.atomic():
        Practice.objects.create(athena_practice_id="910005", name="Synthetic Ended Practice")
        end()
    writer = Writer("910006")
    writer.start()
    writer.join(10)
    assert writer.error is None and writer.finished_at is not None
    assert "910006" in names()


def test_a_transaction_that_cannot_take_its_turn_fails_without_holding_up_the_next(tmp_path: Path) -> None:
    connection.close()  # a fresh connection opens the lock file again
    lock_file = Path(f"{connection.settings_dict['NAME']}.writers")
    kept = tmp_path / "writers"
    if lock_file.exists():
        lock_file.rename(kept)
    lock_file.mkdir()  # a lock file that cannot be opened
    try:
        with pytest.raises(OSError), transaction.atomic():
            Practice.objects.create(athena_practice_id="910007", name="Synthetic Refused Practice")
    finally:
        lock_file.rmdir()
        if kept.exists():
            kept.rename(lock_file)
    writer = Writer("910008")
    writer.start()
    writer.join(10)
    assert writer.error is None and writer.finished_at is not None
    assert "910008" in names() and "910007" not in names()

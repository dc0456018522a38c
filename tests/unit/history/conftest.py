"""Fixtures shared by the history unit tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from greekstream.history.client import History, connect
from greekstream.history.migrate import migrate


@pytest.fixture(scope="module")
def dsn(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The DSN of a chDB folder of the module's own."""
    return f"chdb://{tmp_path_factory.mktemp('chdb')}"


@pytest.fixture(scope="module")
def store(dsn: str) -> Iterator[History]:
    """The store at ``dsn``, migrated (a test file that needs another kind of store
    defines its own ``store``)."""
    with connect(dsn, create=True) as history:
        migrate(history)
        yield history

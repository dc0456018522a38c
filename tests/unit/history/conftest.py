"""Fixtures shared by the history unit tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from greekstream.history.client import History, connect
from greekstream.history.migrate import migrate


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[History]:
    """A migrated chDB store of the module's own (a test file that needs another kind of
    store defines its own ``store``)."""
    with connect(f"chdb://{tmp_path_factory.mktemp('chdb')}", create=True) as history:
        migrate(history)
        yield history

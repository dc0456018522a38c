"""The spool file of a replay's records (history/spool.py): any raw bytes (newlines, NUL,
anything) and any source come back exactly, in order, read lazily; a file cut short or
not a spool is an error, not fewer records; past the deadline the writing stops."""

from __future__ import annotations

import io
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from greekstream.history.spool import (
    MAGIC,
    SpoolError,
    SpoolTimeout,
    SpoolTooLarge,
    read_spool,
    spool,
)

RECORDS = st.lists(st.tuples(st.binary(max_size=300) | st.sampled_from(
    [b"", b"\n", b"\r\n", b"\0", b'{"a":1}\n{"b":2}', b"\xff\xfe\0\n"]),
    st.text(max_size=40) | st.sampled_from(["", "inputs:1", "é\n\0ü", "\U0001f600:7"])),
    max_size=40)


@settings(max_examples=300, deadline=None)
@given(RECORDS)
def test_records_come_back_exactly(records: list[tuple[bytes, str]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "records.spool"
        with open(path, "wb") as out:
            assert spool(iter(records), out) == len(records)
        assert list(read_spool(path)) == records


def test_the_reader_is_lazy_and_a_cut_file_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "r.spool"
    with open(path, "wb") as out:
        spool([(b"a\nb", "s:1"), (b"\0", "s:2")], out)
    reader = read_spool(path)
    assert next(reader) == (b"a\nb", "s:1")  # one record at a time, not a list
    assert list(reader) == [(b"\0", "s:2")]
    whole = path.read_bytes()
    for cut in (len(whole) - 1, len(MAGIC) + 3):
        path.write_bytes(whole[:cut])
        with pytest.raises(SpoolError, match="ends inside"):
            list(read_spool(path))
    path.write_bytes(b'{"type":"tick"}\n')
    with pytest.raises(SpoolError, match="not a spool"):
        list(read_spool(path))


def test_writing_stops_at_the_deadline() -> None:
    taken: list[int] = []

    def slow() -> Iterator[tuple[bytes, str]]:
        for i in range(1000):
            taken.append(i)
            time.sleep(0.01)
            yield b"x", f"s:{i}"

    started = time.monotonic()
    with pytest.raises(SpoolTimeout):
        spool(slow(), io.BytesIO(), deadline=started + 0.2)
    assert time.monotonic() - started < 2 and len(taken) < 100


def test_writing_stops_before_the_file_outgrows_its_limit() -> None:
    records = [(b"x" * 100, "s:1")] * 50  # 8 + 50 * (8 + 100 + 3) bytes spooled whole
    whole = len(MAGIC) + 50 * 111
    out = io.BytesIO()
    assert spool(iter(records), out, max_bytes=whole) == 50 and len(out.getvalue()) == whole
    taken: list[int] = []

    def counted() -> Iterator[tuple[bytes, str]]:
        for i, record in enumerate(records):
            taken.append(i)
            yield record

    out = io.BytesIO()
    with pytest.raises(SpoolTooLarge, match="after 49 records") as raised:
        spool(counted(), out, max_bytes=whole - 1)
    assert raised.value.max_bytes == whole - 1
    assert len(out.getvalue()) <= whole - 1 and len(taken) == 50

"""The open window's dirty keys (core/books.py DirtyKeys): a quote marks its holders by
their totals rows in one numpy step; every reader must see what a plain dict
``key → cause`` would hold had each key been set one by one, in the same order. A key
created, dropped and created again on a reused row must not inherit the old row's mark."""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from greekstream.core.books import Cause, DirtyKeys

KEYS = [(f"book-{i}", "BTC") for i in range(6)]

# operations on keys 0..5, each key on a row of its own while it is owned
op = st.one_of(
    st.tuples(st.just("mark"), st.lists(st.integers(0, 5), min_size=1, max_size=6, unique=True)),
    st.tuples(st.just("set"), st.integers(0, 5)),
    st.tuples(st.just("pop"), st.integers(0, 5)),
    st.tuples(st.just("drop"), st.integers(0, 5)),
    st.tuples(st.just("read"), st.integers(0, 5)),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(op, max_size=40))
def test_marks_read_as_a_dict_set_one_key_at_a_time(ops: list[Any]) -> None:
    dirty, plain = DirtyKeys(), {}
    free = list(range(200, 194, -1))  # rows beyond the first array: it has to grow
    row_of: dict[int, int] = {}
    for n, (kind, arg) in enumerate(ops):
        cause = Cause(f"ev-{n}", n)
        owned = [k for k in (arg if kind == "mark" else [arg]) if k in row_of]
        for k in (arg if kind == "mark" else [arg]):
            if k not in row_of and kind in ("mark", "set"):  # a key is created first
                row_of[k] = free.pop()
                dirty.own(row_of[k], KEYS[k])
                owned.append(k)
        if kind == "mark":
            dirty.mark_rows(np.array([row_of[k] for k in arg], dtype=np.intp), cause)
            plain.update(dict.fromkeys((KEYS[k] for k in arg), cause))
        elif kind == "set":
            dirty[KEYS[arg]] = cause
            plain[KEYS[arg]] = cause
        elif kind == "pop":
            assert dirty.pop(KEYS[arg]) == plain.pop(KEYS[arg], None)
        elif kind == "drop" and owned:  # as EngineState.drop_books: the row, then the key
            dirty.disown(row_of[arg])
            free.append(row_of.pop(arg))
            dirty.pop(KEYS[arg])
            plain.pop(KEYS[arg], None)
        elif kind == "read":
            assert (KEYS[arg] in dirty) == (KEYS[arg] in plain)
            assert dirty.get(KEYS[arg]) == plain.get(KEYS[arg])
        assert bool(dirty) == bool(plain)
    assert sorted(dirty.items()) == sorted(plain.items())
    assert len(dirty) == len(plain)


def test_a_later_mark_wins_over_an_earlier_set_and_the_reverse() -> None:
    dirty = DirtyKeys()
    dirty.own(3, KEYS[0])
    dirty.own(4, KEYS[1])
    dirty[KEYS[0]] = Cause("index-1", 1)
    dirty.mark_rows(np.array([3, 4], dtype=np.intp), Cause("quote-2", 2))
    dirty[KEYS[1]] = Cause("index-3", 3)
    assert dict(dirty.items()) == {KEYS[0]: Cause("quote-2", 2), KEYS[1]: Cause("index-3", 3)}


def test_a_reused_row_does_not_carry_the_dropped_keys_mark() -> None:
    dirty = DirtyKeys()
    dirty.own(0, KEYS[0])
    dirty.mark_rows(np.array([0], dtype=np.intp), Cause("quote-1", 1))
    dirty.disown(0)
    dirty.pop(KEYS[0])
    dirty.own(0, KEYS[1])  # the row is taken again by another key
    assert not dirty
    assert dirty.items() == []

"""The gs-seq merge: a record waits while an empty partition may still hold an earlier one."""

from __future__ import annotations

import random

from greekstream.kafka.merge import Record, SeqMerge

A, B, C = ("t.a", 0), ("t.b", 0), ("t.b", 1)
RANK = {"t.a": 0, "t.b": 1}


def rec(src: tuple[str, int], seq: int, offset: int, mark: bool = False) -> Record:
    return Record((seq, RANK[src[0]], src[1], offset), b"" if mark else b"x", None, src[0],
                  src[1], offset, 0, mark)


def drain(merge: SeqMerge) -> list[int]:
    out = []
    while (r := merge.pop()) is not None:
        if not r.is_mark:
            out.append(r.pos[0])
    return out


def test_an_empty_source_holds_back_later_records_until_its_mark() -> None:
    merge = SeqMerge([A, B])
    merge.push(B, rec(B, 5, 0))  # A is empty: it may still get seq 1..4
    assert merge.pop() is None
    merge.push(A, rec(A, 3, 0))
    assert drain(merge) == [3]  # B's 5 still waits: A may get 4
    merge.push(A, rec(A, 7, 1, mark=True))  # A: nothing else up to 7
    assert drain(merge) == [5]
    assert merge.pop() is None and merge.buffered == 1  # A's mark 7 waits: B may get 6


def test_checkpoint_watermarks_let_a_restored_source_stay_empty() -> None:
    merge = SeqMerge([A, B], {A: 10, B: 3})
    merge.push(B, rec(B, 8, 4))
    assert drain(merge) == [8]  # A is complete to 10
    merge.push(B, rec(B, 11, 5))
    assert merge.pop() is None


def test_any_interleaving_of_arrivals_releases_the_gateway_order() -> None:
    rng = random.Random(3)
    for _ in range(200):
        sources = [A, B, C]
        per: dict[tuple[str, int], list[Record]] = {s: [] for s in sources}
        for seq in range(1, 60):
            s = rng.choice(sources)
            per[s].append(rec(s, seq, len(per[s])))
            if seq % 7 == 0 or seq == 59:  # the gateway marks every partition
                for t in sources:
                    per[t].append(rec(t, seq, len(per[t]), mark=True))
        merge, released = SeqMerge(sources), []
        cursors = dict.fromkeys(sources, 0)
        while any(cursors[s] < len(per[s]) for s in sources):
            s = rng.choice([s for s in sources if cursors[s] < len(per[s])])
            merge.push(s, per[s][cursors[s]])
            cursors[s] += 1
            released += drain(merge)
        assert released == list(range(1, 60))

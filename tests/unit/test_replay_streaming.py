"""`replay` writes as it goes: outputs reach their sinks while input is still being read,
in the order a kept replay holds them, and `replay --out` files are those outputs."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from greekstream.core.decode import decode_event
from greekstream.core.engine import Output
from greekstream.core.events import DecodeError, encode
from greekstream.runtime.replay import CHUNK, Record, count_lines, read_records, replay
from greekstream.sample import write_sample
from tests.cli import run


@pytest.fixture(scope="module")
def day(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("stream") / "day.jsonl"
    write_sample(path, "kafka-test", seed=5, show_progress=False)
    return path


def test_streamed_outputs_are_the_kept_ones_and_arrive_before_the_input_ends(
    day: Path,
) -> None:
    kept = replay(read_records(day))
    seen: list[Output] = []
    delivered_while_reading: list[int] = []

    def records() -> Iterator[Record]:
        for n, record in enumerate(read_records(day)):
            if n == CHUNK + 1:  # the first chunk is applied and its outputs delivered
                delivered_while_reading.append(len(seen))
            yield record

    stored: list[Record] = []
    streamed = replay(records(), keep_outputs=False, on_output=seen.append,
                      on_record=lambda raw, src: stored.append((raw, src)))
    assert streamed.outputs == []  # nothing held
    assert count_lines(day) > CHUNK + 1 and delivered_while_reading[0] > 0
    assert [encode(o) for o in seen] == [encode(o) for o in kept.outputs]
    assert streamed.counts == Counter(o.type for o in kept.outputs) == kept.counts
    assert stored == list(read_records(day))


def test_as_of_records_after_it_are_neither_applied_nor_stored(day: Path) -> None:
    records = list(read_records(day))
    as_of = replay(records[: len(records) // 2]).engine.clock
    assert as_of is not None
    stored: list[Record] = []
    result = replay(records, as_of_us=as_of, keep_outputs=False,
                    on_record=lambda raw, src: stored.append((raw, src)))

    def applies(raw: bytes) -> bool:
        try:
            return decode_event(raw).ts <= as_of
        except DecodeError:
            return True  # rejected records are stored too

    assert result.skipped_after_as_of > 0
    assert stored == [r for r in records if applies(r[0])]


def test_replay_out_writes_every_output_in_order(day: Path, tmp_path: Path) -> None:
    code, _, err = run("replay", str(day), "--out", str(tmp_path / "out"), "--quiet")
    assert code == 0, err
    outputs = replay(read_records(day)).outputs
    by_type: dict[str, list[bytes]] = {}
    for o in outputs:
        by_type.setdefault(o.type, []).append(encode(o))
    names = {"exposure": "exposures.jsonl", "breach": "breaches.jsonl",
             "hedge_intent": "hedge_intents.jsonl", "risk_matrix": "risk_matrices.jsonl"}
    for kind, name in names.items():
        body = (tmp_path / "out" / name).read_bytes()
        assert body.splitlines() == by_type.get(kind, []), kind
    assert (tmp_path / "out" / "rejected.jsonl").exists()

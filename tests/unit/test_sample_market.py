"""The `market` profile: the listing, the books and the rates the issue asks for,
streamed deterministically."""

from __future__ import annotations

from collections import Counter, defaultdict
from pathlib import Path

import orjson
import pytest

from greekstream.core.decode import decode_event
from greekstream.core.timeutil import parse_ts
from greekstream.sample import market_stream as ms
from greekstream.sample import write_sample


@pytest.fixture(scope="module")
def market(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("market") / "m.jsonl"
    write_sample(path, "market", seed=3, events=90_000, show_progress=False)
    return path


def test_listing_books_and_rates(market: Path) -> None:
    events = [orjson.loads(line) for line in market.read_bytes().splitlines()]
    assert len(events) >= 90_000
    assert [e["event_id"] for e in events[:3]] == ["market-0", "market-1", "market-2"]
    kinds = Counter(e["kind"] for e in events if e["type"] == "instrument")
    assert kinds["option"] >= 1500 and kinds["perpetual"] == 4 and kinds["future"] >= 2
    assert {e["underlying"] for e in events if e["type"] == "instrument"} == {"BTC", "ETH"}
    start = parse_ts(events[0]["ts"])
    opening = [e for e in events if e["type"] == "trade" and parse_ts(e["ts"]) < start + 10**6]
    held: dict[str, set[str]] = defaultdict(set)
    for e in opening:
        held[e["book"]].add(e["instrument_id"])
    assert len(held) == ms.N_BOOKS
    assert all(ms.POSITIONS[0] <= len(h) <= ms.POSITIONS[1] for h in held.values())
    later = [e for e in events if parse_ts(e["ts"]) >= start + 10**6]
    seconds = (parse_ts(later[-1]["ts"]) - start) // 10**6
    per_type = Counter(e["type"] for e in later)
    assert per_type["quote"] == ms.QUOTES_PER_S * seconds
    assert 20 * seconds <= per_type["trade"] <= 80 * seconds
    assert per_type["index"] == 2 * ms.INDEX_PER_S * seconds
    defined = {e["instrument_id"] for e in events if e["type"] == "instrument"}
    assert {e["instrument_id"] for e in events if e["type"] in ("trade", "quote")} <= defined
    stamps = [parse_ts(e["ts"]) for e in events]
    assert stamps == sorted(stamps)


def test_every_record_decodes_and_the_file_is_reproducible(market: Path,
                                                           tmp_path: Path) -> None:
    lines = market.read_bytes().splitlines()
    for line in lines[::97]:
        decode_event(line)  # raises on a record the contract rejects
    again = tmp_path / "again.jsonl"
    write_sample(again, "market", seed=3, events=90_000, show_progress=False)
    assert again.read_bytes() == market.read_bytes()


def test_the_event_count_sets_the_length() -> None:
    assert ms.seconds_for(1_000_000, 60_000) * ms.per_second() + 60_000 >= 1_000_000

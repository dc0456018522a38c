"""The query service over a real chDB history: answers checked against the replay's own
outputs, token scoping (401/403 + a log line), CSV, OpenAPI, clear errors."""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from greekstream.core.timeutil import format_ts, parse_ts
from greekstream.runtime.replay import read_records, replay

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

DESK_A = "a" * 32  # the tokens of conftest's tokens_file
ALL = "z" * 32
HOUR = 3_600_000_000


@pytest.fixture
def client(shared_service_url: str) -> Iterator[httpx.Client]:
    """A client of the module's one service: its tests only read the store."""
    with httpx.Client(base_url=shared_service_url, timeout=60) as c:
        yield c


@pytest.fixture(scope="module")
def outputs(events_file: Path) -> list[Any]:
    return replay(read_records(events_file)).outputs


def get(client: httpx.Client, path: str, token: str = ALL, **params: Any) -> Any:
    response = client.get(path, params=params, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.text
    return response.json() if "json" in response.headers["content-type"] else response.text


def test_tokens_are_required_and_scoped(
    client: httpx.Client, caplog: pytest.LogCaptureFixture
) -> None:
    assert client.get("/v1/books").status_code == 401
    assert client.get("/v1/books", headers={"Authorization": "Bearer nope"}).status_code == 401
    assert get(client, "/v1/books", DESK_A) == ["desk-a"]
    assert {"desk-a", "desk-b"} <= set(get(client, "/v1/books", ALL))
    with caplog.at_level(logging.WARNING, logger="greekstream.serve"):
        refused = client.get("/v1/books/desk-b/breaches",
                             headers={"Authorization": f"Bearer {DESK_A}"})
    assert refused.status_code == 403
    assert "desk-b" in refused.json()["detail"]
    assert any("refused" in r.message and "desk-b" in r.message for r in caplog.records)
    assert get(client, "/v1/books/desk-a/breaches", DESK_A) is not None
    at = "2026-03-02T01:00:00Z"
    scoped = get(client, "/v1/exposures", DESK_A, at=at)
    assert scoped and {r["book"] for r in scoped} == {"desk-a"}
    assert {r["book"] for r in get(client, "/v1/top", DESK_A, at=at)} == {"desk-a"}


def _last_by_hour(outputs: list[Any], book: str) -> dict[tuple[str, int], Any]:
    last: dict[tuple[str, int], Any] = {}
    for o in outputs:  # emission order: a later output at the same ts wins
        if o.type == "exposure" and o.book == book:
            key = (o.underlying, o.ts - o.ts % HOUR)
            if key not in last or o.ts >= last[key].ts:
                last[key] = o
    return last


def test_hourly_time_series_matches_the_outputs(client: httpx.Client, outputs: list[Any]) -> None:
    rows = get(client, "/v1/books/desk-a/timeseries", bucket="1h")
    expected = _last_by_hour(outputs, "desk-a")
    assert len(rows) == len(expected)
    for row in rows:
        want = expected[(row["underlying"], parse_ts(row["bucket"]))]
        assert (row["delta"], row["vega"], parse_ts(row["last_ts"])) == (want.delta, want.vega,
                                                                         want.ts)
        in_bucket = [o.delta for o in outputs if o.type == "exposure" and o.book == "desk-a"
                     and o.underlying == row["underlying"]
                     and o.ts - o.ts % HOUR == parse_ts(row["bucket"])]
        assert (row["delta_min"], row["delta_max"]) == (min(in_bucket), max(in_bucket))
    minutes = get(client, "/v1/books/desk-a/timeseries", bucket="1m", underlying="BTC")
    assert len(minutes) > len([r for r in rows if r["underlying"] == "BTC"])
    daily = get(client, "/v1/books/desk-a/timeseries", bucket="1d")
    assert {r["underlying"] for r in daily} == {r["underlying"] for r in rows}


def test_breach_durations(client: httpx.Client, outputs: list[Any]) -> None:
    """Every book's breaches: the first breach's book alone (treasury) has one breach,
    never cleared, so no duration was ever compared."""
    breaches = [o for o in outputs if o.type == "breach"]
    timed = still_open = 0
    for book in sorted({o.book for o in breaches}):
        rows = get(client, f"/v1/books/{book}/breaches")
        mine = [o for o in breaches if o.book == book]
        assert len(rows) == len({o.breach_id for o in mine})
        for row in rows:
            events = {o.state: o for o in mine if o.breach_id == row["breach_id"]}
            assert row["opened_at"] == format_ts(events["open"].ts)
            if "cleared" in events:
                assert row["cleared_at"] == format_ts(events["cleared"].ts)
                assert row["duration_s"] == (events["cleared"].ts - events["open"].ts) / 1e6
                timed += 1
            else:
                assert row["cleared_at"] is None and row["duration_s"] is None
                still_open += 1
    assert timed > 0 and still_open > 0, (timed, still_open)


def test_hedge_intents_and_follow_up_trades(
    client: httpx.Client, outputs: list[Any], events_file: Path
) -> None:
    import orjson

    intent = next(o for o in outputs if o.type == "hedge_intent")
    rejected = {o.source for o in outputs if o.type == "rejected"}
    trades = [orjson.loads(r) for r, source in read_records(events_file)
              if b'"trade"' in r and source not in rejected]
    rows = get(client, f"/v1/books/{intent.book}/hedge-intents")
    assert len(rows) == sum(1 for o in outputs if o.type == "hedge_intent"
                            and o.book == intent.book)
    emitted = {o.intent_id: o for o in outputs if o.type == "hedge_intent"}
    for row in rows:  # which delta the numbers are: the page labels an equity basis
        assert (row["delta_before"], row["delta_after"], row["basis"]) == (
            emitted[row["intent_id"]].delta_before, emitted[row["intent_id"]].delta_after,
            emitted[row["intent_id"]].basis)
    for row in rows:
        after = sorted(parse_ts(t["ts"]) for t in trades if t.get("book") == intent.book
                       and t.get("instrument_id") == row["instrument_id"]
                       and parse_ts(t["ts"]) >= parse_ts(row["ts"]))
        followed = bool(after) and after[0] - parse_ts(row["ts"]) <= 30_000_000
        assert row["followed"] == followed
    assert any(r["followed"] for r in rows)


def test_as_of_replay_mode_matches_replay_and_csv(
    client: httpx.Client, events_file: Path
) -> None:
    at = "2026-03-02T01:17:30.5Z"
    exact = get(client, "/v1/exposures", at=at, book="desk-b", mode="replay")
    want = [r.as_dict() for r in replay(read_records(events_file),
                                        as_of_us=parse_ts(at)).exposures()
            if r.book == "desk-b"]
    assert [{k: v for k, v in r.items() if k != "as_of"} for r in exact] == want
    text = get(client, "/v1/exposures", at=at, book="desk-b", format="csv")
    table = list(csv.DictReader(io.StringIO(text)))
    assert len(table) == len(want) and float(table[0]["delta"]) == pytest.approx(
        get(client, "/v1/exposures", at=at, book="desk-b")[0]["delta"])


def _latest_matrices(outputs: list[Any], book: str, at: int | None) -> dict[str, Any]:
    last: dict[str, Any] = {}
    for o in outputs:  # emission order: a later output at the same ts wins
        if (o.type == "risk_matrix" and o.book == book and (at is None or o.ts <= at)
                and (o.underlying not in last or o.ts >= last[o.underlying].ts)):
            last[o.underlying] = o
    return last


def test_risk_matrix_latest_and_as_of(client: httpx.Client, outputs: list[Any]) -> None:
    import orjson

    from greekstream.core.events import encode

    at = "2026-03-02T01:17:30.5Z"
    for moment in (None, at):
        params = {"at": moment} if moment else {}
        rows = get(client, "/v1/books/desk-a/risk-matrix", DESK_A, **params)
        want = _latest_matrices(outputs, "desk-a", parse_ts(moment) if moment else None)
        assert len(want) >= 2 and [r["underlying"] for r in rows] == sorted(want)
        for row in rows:
            event = want[row["underlying"]]
            assert row["matrix"] == orjson.loads(encode(event))
            assert (row["ts"], row["worst_loss"]) == (format_ts(event.ts), event.worst_loss)
    latest = {r["underlying"]: r["ts"] for r in get(client, "/v1/books/desk-a/risk-matrix")}
    earlier = {r["underlying"]: r["ts"] for r in get(client, "/v1/books/desk-a/risk-matrix",
                                                     at=at)}
    assert all(parse_ts(earlier[u]) <= parse_ts(at) < parse_ts(latest[u]) for u in earlier)
    refused = client.get("/v1/books/desk-b/risk-matrix",
                         headers={"Authorization": f"Bearer {DESK_A}"})
    assert refused.status_code == 403


def test_risk_matrix_as_csv_is_one_row_per_scenario(client: httpx.Client,
                                                     outputs: list[Any]) -> None:
    """?format=csv: the matrices' columns zipped, one row per (underlying, scenario), in
    the grid's order, the same floats as the JSON."""
    r = client.get("/v1/books/desk-a/risk-matrix", params={"format": "csv"},
                   headers={"Authorization": f"Bearer {DESK_A}"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv"), r.text
    assert "desk-a-risk-matrix.csv" in r.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(r.text)))
    want = _latest_matrices(outputs, "desk-a", None)
    expected = [
        (u, format_ts(m.ts), p, v, h, n or "", pnl)
        for u, m in sorted(want.items())
        for p, v, h, n, pnl in zip(m.price_shocks, m.vol_shocks, m.time_shift_h, m.names,
                                   m.pnl, strict=True)]
    assert len(expected) > 2 * 20
    assert [(row["underlying"], row["ts"], float(row["price_shock"]), float(row["vol_shock"]),
             float(row["time_shift_h"]), row["scenario"], float(row["pnl_usd"]))
            for row in rows] == expected
    assert {row["book"] for row in rows} == {"desk-a"}


def test_openapi_and_clear_errors(client: httpx.Client) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/v1/books/{book}/timeseries", "/v1/top", "/v1/exposures"} <= set(paths)
    auth = {"Authorization": f"Bearer {ALL}"}
    unknown = client.get("/v1/books/nobody/breaches", headers=auth)
    assert unknown.status_code == 404 and "unknown book" in unknown.json()["detail"]
    inverted = client.get("/v1/books/desk-a/timeseries", headers=auth,
                          params={"from": "2026-03-02T02:00:00Z", "to": "2026-03-02T01:00:00Z"})
    assert inverted.status_code == 400 and "inverted" in inverted.json()["detail"]
    assert "--from" not in inverted.json()["detail"]  # an API user has no CLI flags
    early = client.get("/v1/exposures", headers=auth, params={"at": "2020-01-01T00:00:00Z"})
    assert early.status_code == 400 and "before history starts" in early.json()["detail"]
    bad = client.get("/v1/top", headers=auth, params={"at": "yesterday"})
    assert bad.status_code == 400


def test_health_and_readiness_need_no_token(client: httpx.Client) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    # with the pool's size and its free connections (a saturated pool is still ready:
    # docs/history.md, "Concurrency"); idle here, so all of them free
    assert ready.status_code == 200 and ready.json() == {
        "status": "ready", "connections": 8, "connections_free": 8}


def test_what_if_previews_trades_like_a_copy_of_the_engine(
    client: httpx.Client, events_file: Path,
) -> None:
    from greekstream.core.whatif import HypotheticalTrade, what_if

    book = "desk-a"
    trade = {"instrument_id": "BTC-PERPETUAL", "side": "sell", "quantity": 20000}
    headers = {"Authorization": f"Bearer {ALL}"}
    response = client.post(f"/v1/books/{book}/what-if", json={"trades": [trade]},
                           headers=headers)
    assert response.status_code == 200, response.text
    got = response.json()
    mine = [(raw, src) for raw, src in read_records(events_file)
            if _book_of(raw) in ("", book)]  # what the service reads: the book + market data
    engine = replay(mine).engine
    before = engine.snapshot()
    expected = what_if(engine, book, [HypotheticalTrade("BTC-PERPETUAL", "sell", 20000)])
    assert engine.snapshot() == before
    expected["as_of"] = format_ts(expected["as_of"])
    assert got == expected
    btc = next(u for u in got["underlyings"] if u["underlying"] == "BTC")
    assert btc["change"]["delta"] < 0 and btc["worst_loss_usd"] is not None
    assert client.post(f"/v1/books/{book}/what-if", json={"trades": [trade]},
                       headers={"Authorization": f"Bearer {DESK_A}"}).status_code == 200
    assert client.post("/v1/books/desk-b/what-if", json={"trades": [trade]},
                       headers={"Authorization": f"Bearer {DESK_A}"}).status_code == 403
    bad = client.post(f"/v1/books/{book}/what-if", headers=headers,
                      json={"trades": [{**trade, "instrument_id": "NO-SUCH"}]})
    assert bad.status_code == 422 and "unknown instrument" in bad.text
    # a trade the model refuses (greekstream.runtime.whatif_trade, the CLI's rules too): FastAPI's
    # 422, field by field
    bad = client.post(f"/v1/books/{book}/what-if", headers=headers,
                      json={"trades": [{**trade, "side": "short"}]})
    assert bad.status_code == 422, bad.text
    assert [(d["loc"], d["type"]) for d in bad.json()["detail"]] == [
        (["body", "trades", 0, "side"], "literal_error")]


def _book_of(raw: bytes) -> str:
    import orjson

    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return ""
    book = obj.get("book") if isinstance(obj, dict) else None
    return book if isinstance(book, str) else ""


def test_regime_changes_are_served(client: httpx.Client, outputs: list[Any]) -> None:
    rows = get(client, "/v1/regimes")
    changes = [o for o in outputs if o.type == "regime"]
    assert changes, "the sample's two hours must set a regime"
    assert [(r["ts"], r["underlying"], r["regime"], r["realized_vol"]) for r in rows] == [
        (format_ts(o.ts), o.underlying, o.regime, o.realized_vol)
        for o in sorted(changes, key=lambda o: (o.ts, o.underlying))]

"""The engine's scenario-risk stream (risk_matrix outputs, liq_distance breach) and its
on-chain wiring (loans and LPs in exposures, health_factor breach, reorgs, the oracle guard).

The numbers themselves are checked elsewhere (tests/unit/scenarios against QuantLib,
tests/unit/onchain by hand); here: when outputs are emitted, that the stream equals
`greekstream stress` at the same moment, and that breaches open and clear once.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from greekstream.commands.stress import json_rows, stress_reports
from greekstream.core.engine import Engine, EngineConfig
from greekstream.core.events import Breach, Exposure, RiskMatrixEvent, encode
from greekstream.core.timeutil import parse_ts
from tests.unit import builders as b

pytestmark = pytest.mark.timeout(120)

CALL = "BTC-27MAR26-60000-C"
PUT = "BTC-27MAR26-50000-P"


def run(engine: Engine, records: list[bytes]) -> list[Any]:
    """Apply the records as one finite input: its end closes the emission window."""
    out: list[Any] = []
    for i, raw in enumerate(records):
        out.extend(engine.handle(raw, f"test:{i}"))
    return out + engine.flush()


def of(kind: type, outputs: list[Any]) -> list[Any]:
    return [o for o in outputs if isinstance(o, kind)]


def market() -> list[bytes]:
    return [
        b.option(CALL, 60000),
        b.option(PUT, 50000, kind="put", settlement="linear"),
        b.perp(),
        b.index("x0", 1, 61000),
        b.quote_opt("q0", 2, CALL, 61200, 0.62),
        b.quote_opt("q1", 2.5, PUT, 61200, 0.7),
        b.quote_mark("m0", 3, "BTC-PERPETUAL", 61010),
    ]


def stream() -> list[bytes]:
    """Six minutes of a short-vol book with margin and collateral; every ts is unique."""
    out = [
        *market(),
        b.trade("t1", 10, CALL, "sell", 20),
        b.trade("t2", 11, PUT, "sell", 15),
        b.trade("t3", 12, "BTC-PERPETUAL", "buy", 40000),
        b.rec("collateral", "c1", 13, book="desk-a", asset="BTC", amount=3.0),
        b.rec(
            "margin",
            "mg1",
            14,
            book="desk-a",
            underlying="BTC",
            equity=400000.0,
            maintenance_margin=150000.0,
        ),
        b.limits("l1", 15, min_liq_distance=0.05),
    ]
    for k in range(1, 13):
        t = 30.0 * k
        out.append(b.index(f"x{k}", t + 1, 61000 * (1 + 0.004 * k)))
        out.append(b.quote_opt(f"qc{k}", t + 2, CALL, 61200 * (1 + 0.004 * k), 0.62 + 0.01 * k))
        if k == 6:
            out.append(b.trade("t4", t + 3, CALL, "sell", 15))
        if k == 9:
            out.append(b.trade("t5", t + 3.5, PUT, "buy", 0.01))  # immaterial
    return out


def test_stream_risk_matrices_equal_greekstream_stress_at_the_same_moment() -> None:
    records = stream()
    outputs = run(Engine(), records)
    matrices = of(RiskMatrixEvent, outputs)
    assert len(matrices) >= 5
    assert {m.caused_by for m in matrices} >= {"t1", "t4"}, "trades that change risk emit"
    stamps = [parse_ts(orjson.loads(r)["ts"]) for r in records]
    for m in matrices:
        prefix = [r for r, t in zip(records, stamps, strict=True) if t <= m.ts]
        engine = Engine()
        run(engine, prefix)
        (row,) = json_rows(stress_reports(engine, m.ts, book="desk-a"), m.ts)
        got = orjson.loads(encode(m))
        if got["worst_scenario"]["name"] is None:  # stress omits a null name
            del got["worst_scenario"]["name"]
        # stress reports a list of scenarios; the event carries them as columns, cell i
        # across the arrays (docs/contract.md), compared number for number
        cells = row["scenarios"]
        assert len(got["pnl"]) == len(cells) > 0
        row = {**row, "price_shocks": [s["price_shock"] for s in cells],
               "vol_shocks": [s["vol_shock"] for s in cells],
               "time_shift_h": [s["time_shift_h"] for s in cells],
               "names": [s.get("name") for s in cells], "pnl": [s["pnl"] for s in cells]}
        for field in (
            "book",
            "underlying",
            "as_of",
            "price_shocks",
            "vol_shocks",
            "time_shift_h",
            "names",
            "pnl",
            "worst_loss",
            "worst_scenario",
            "liq_move_down",
            "liq_move_up",
            "liq_price_down",
            "liq_price_up",
        ):
            assert got[field] == row[field], (m.caused_by, field)


def test_a_risk_matrix_is_columns_of_one_length_and_meets_its_schema() -> None:
    """The compact payload (issue 12, item 5): five parallel arrays in place of a list of
    objects, valid against schemas/output/risk_matrix.json; unequal lengths are refused."""
    import jsonschema
    from pydantic import ValidationError

    from greekstream.core.scenarios import DEFAULT_GRID

    schema = orjson.loads((Path(__file__).resolve().parents[2] / "schemas" / "output"
                           / "risk_matrix.json").read_bytes())
    matrices = of(RiskMatrixEvent, run(Engine(), stream()))
    assert matrices
    columns = ("price_shocks", "vol_shocks", "time_shift_h", "names", "pnl")
    for m in matrices:
        record = orjson.loads(encode(m))
        jsonschema.validate(record, schema)
        assert "scenarios" not in record
        assert [len(record[c]) for c in columns] == [len(DEFAULT_GRID)] * 5
        assert record["price_shocks"] == DEFAULT_GRID.price_shock.tolist()
        assert record["vol_shocks"] == DEFAULT_GRID.vol_shock.tolist()
        assert record["names"] == [None] * len(DEFAULT_GRID)
        worst = min(range(len(m.pnl)), key=lambda i: (m.pnl[i], i))
        assert record["worst_scenario"] == {
            "price_shock": m.price_shocks[worst], "vol_shock": m.vol_shocks[worst],
            "time_shift_h": m.time_shift_h[worst], "pnl": m.pnl[worst], "name": None}
        fields = {**record, "ts": m.ts, "as_of": m.as_of}  # the model takes epoch-µs
        assert RiskMatrixEvent.model_validate(fields) == m
        short = {**fields, "pnl": record["pnl"][:-1]}
        with pytest.raises(ValidationError, match="one length"):
            RiskMatrixEvent.model_validate(short)
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate({**record, "scenarios": []}, schema)  # the old field is gone


def test_risk_matrix_emission_rules() -> None:
    engine = Engine(EngineConfig(risk_interval_s=60))
    out = run(engine, [*market(), b.trade("t1", 10, "BTC-PERPETUAL", "buy", 10000)])
    assert [m.caused_by for m in of(RiskMatrixEvent, out)] == ["t1"]  # first: always
    out = run(engine, [b.trade("t2", 11, "BTC-PERPETUAL", "buy", 10)])  # +0.1%: immaterial
    assert of(RiskMatrixEvent, out) == []
    out = run(engine, [b.trade("t3", 12, "BTC-PERPETUAL", "buy", 5_000)])  # +50%
    assert [m.caused_by for m in of(RiskMatrixEvent, out)] == ["t3"]
    out = run(engine, [b.trade("t4", 13, "BTC-PERPETUAL", "buy", 10)])  # immaterial again
    assert of(RiskMatrixEvent, out) == []
    # the interval tick re-emits what changed since (t4), once per interval
    out = run(engine, [b.index("x1", 61, 61000)])
    assert [m.caused_by for m in of(RiskMatrixEvent, out)] == ["x1"]
    out = run(engine, [b.index("x2", 62, 61000)])
    assert of(RiskMatrixEvent, out) == []  # not due
    # due again, but a linear book at an unchanged price has an unchanged matrix
    out = run(engine, [b.index("x3", 125, 61000)])
    assert of(RiskMatrixEvent, out) == []


def test_liq_distance_breach_opens_and_clears_once() -> None:
    engine = Engine()
    # short 60,000 inverse contracts of 10 USD: P&L(p) = −600,000·p USD
    run(engine, [*market(), b.trade("t1", 10, "BTC-PERPETUAL", "sell", 60000)])
    out = run(
        engine,
        [
            b.rec(
                "margin",
                "mg1",
                11,
                book="desk-a",
                underlying="BTC",
                equity=100_000.0,
                maintenance_margin=60_000.0,
            ),
            b.limits("l1", 12, min_liq_distance=0.10),
        ],
    )
    opened = [x for x in of(Breach, out) if x.metric == "liq_distance"]
    assert [x.state for x in opened] == ["open"]
    assert opened[0].value == pytest.approx(40_000 / 600_000, abs=1e-6)  # up 6.67%
    assert opened[0].limit == 0.10
    out = run(
        engine,
        [
            b.rec(
                "margin",
                "mg2",
                13,
                book="desk-a",
                underlying="BTC",
                equity=100_500.0,
                maintenance_margin=60_000.0,
            )
        ],
    )
    assert [x for x in of(Breach, out) if x.metric == "liq_distance"] == []  # still open
    out = run(
        engine,
        [
            b.rec(
                "margin",
                "mg3",
                14,
                book="desk-a",
                underlying="BTC",
                equity=300_000.0,
                maintenance_margin=60_000.0,
            )
        ],
    )
    cleared = [x for x in of(Breach, out) if x.metric == "liq_distance"]
    assert [(x.state, x.breach_id) for x in cleared] == [("cleared", opened[0].breach_id)]


def loan(eid: str, at: float, block: int, coll: float, debt: float, pid: str = "L1") -> bytes:
    return b.rec(
        "loan",
        eid,
        at,
        book="desk-a",
        position_id=pid,
        protocol="aave-v3",
        collateral_asset="ETH",
        collateral_amount=coll,
        debt_asset="USD",
        debt_amount=debt,
        liquidation_threshold=0.8,
        liquidation_bonus=0.05,
        close_factor=0.5,
        chain="ethereum",
        block_number=block,
    )


def test_a_reorg_that_removes_a_loan_removes_its_delta_and_its_breach() -> None:
    engine = Engine()
    run(
        engine,
        [
            b.index("e0", 1, 2000.0, underlying="ETH"),
            b.rec("limits", "l1", 2, book="desk-a", underlying="ETH", min_health_factor=1.2),
        ],
    )
    out = run(engine, [loan("n1", 3, 100, coll=10.0, debt=15_000.0)])  # HF = 16000/15000
    (exp,) = of(Exposure, out)
    assert (exp.underlying, exp.delta, exp.positions) == ("ETH", 10.0, 1)
    (opened,) = of(Breach, out)
    assert (opened.metric, opened.state) == ("health_factor", "open")
    assert opened.value == pytest.approx(16_000 / 15_000, rel=1e-12)
    out = run(engine, [b.rec("reorg", "r1", 4, chain="ethereum", from_block=100)])
    exposures = of(Exposure, out)
    assert [(e.underlying, e.delta, e.positions) for e in exposures] == [("ETH", 0.0, 0)]
    (cleared,) = of(Breach, out)
    assert (cleared.state, cleared.breach_id) == ("cleared", opened.breach_id)
    assert engine.loans() == []


def test_lp_positions_count_in_delta_gamma_and_hedge_intents() -> None:
    engine = Engine()
    run(
        engine,
        [
            b.index("e0", 1, 2000.0, underlying="ETH"),
            b.rec(
                "instrument",
                "def-eth",
                1,
                instrument_id="ETH-PERP",
                kind="perpetual",
                underlying="ETH",
                settlement="linear",
                contract_size=1.0,
            ),
            b.rec(
                "limits",
                "l1",
                2,
                book="desk-a",
                underlying="ETH",
                hedge_instrument="ETH-PERP",
                hedge_band=1.0,
            ),
        ],
    )
    out = run(
        engine,
        [
            b.rec(
                "lp_position",
                "p1",
                3,
                book="desk-a",
                position_id="LP1",
                pool="ETH/USDC",
                base="ETH",
                liquidity=1_000.0,
                price_lower=1600.0,
                price_upper=2500.0,
            )
        ],
    )
    (exp,) = of(Exposure, out)
    x = 1_000.0 * (2000.0**-0.5 - 2500.0**-0.5)
    assert exp.delta == pytest.approx(x, rel=1e-12)
    assert exp.gamma == pytest.approx(-1_000.0 / (2 * 2000.0**1.5), rel=1e-12)
    (intent,) = [o for o in out if o.type == "hedge_intent"]
    assert (intent.side, intent.quantity) == ("sell", round(x))


def test_oracle_flags_stale_and_divergent_prices_and_breaches_once() -> None:
    engine = Engine(
        EngineConfig(oracle_max_age_s=300, oracle_tolerance=0.01, revaluation_interval_s=60)
    )
    run(engine, [*market(), b.trade("t1", 10, "BTC-PERPETUAL", "buy", 1000)])
    # no index for 300+ s: the periodic revaluation reports the stale price
    out = run(engine, [b.quote_mark("m1", 400, "BTC-PERPETUAL", 61010)])
    exp = of(Exposure, out)[-1]
    assert exp.stale and not exp.oracle_divergence
    (opened,) = [x for x in of(Breach, out) if x.metric == "oracle"]
    assert opened.state == "open" and opened.value == pytest.approx(399.0)
    out = run(engine, [b.rec("index", "x1", 401, underlying="BTC", price=61000.0, source="a")])
    (cleared,) = [x for x in of(Breach, out) if x.metric == "oracle"]
    assert cleared.state == "cleared" and not of(Exposure, out)[-1].stale
    # a second source 3% away: divergence (and the jump-free price stays trusted)
    out = run(engine, [b.rec("index", "x2", 402, underlying="BTC", price=62830.0, source="b")])
    exp = of(Exposure, out)[-1]
    assert exp.oracle_divergence and exp.delta_usd == pytest.approx(exp.delta * 62830.0)
    assert [x.state for x in of(Breach, out) if x.metric == "oracle"] == ["open"]


def test_an_index_jump_waits_for_a_second_source() -> None:
    engine = Engine()
    run(
        engine,
        [
            *market(),
            b.trade("t1", 10, "BTC-PERPETUAL", "buy", 1000),
            b.rec("index", "x1", 11, underlying="BTC", price=61000.0, source="b"),
        ],
    )
    out = run(engine, [b.rec("index", "x2", 12, underlying="BTC", price=45000.0, source="a")])
    assert of(Exposure, out)[-1].delta_usd == pytest.approx(of(Exposure, out)[-1].delta * 61000)
    assert engine.index["BTC"] == 61000.0
    out = run(engine, [b.rec("index", "x3", 13, underlying="BTC", price=45100.0, source="b")])
    assert engine.index["BTC"] == 45100.0  # confirmed within 1% of a's 45000


def test_snapshot_restore_mid_stream_is_byte_identical_with_risk_loans_and_oracle() -> None:
    records = [
        *stream(),
        b.index("e0", 400, 2000.0, underlying="ETH"),
        b.rec("limits", "l2", 401, book="desk-a", underlying="ETH", min_health_factor=1.2),
        loan("n1", 402, 100, coll=10.0, debt=15000.0),
        b.rec(
            "lp_position",
            "p1",
            403,
            book="desk-a",
            position_id="LP1",
            pool="ETH/USDC",
            base="ETH",
            liquidity=1000.0,
            price_lower=1600.0,
            price_upper=2500.0,
        ),
        b.rec("index", "e1", 404, underlying="ETH", price=2010.0, source="b"),
        b.index("x99", 470, 63000),
        b.rec("reorg", "r1", 471, chain="ethereum", from_block=100),
        b.index("x100", 900, 63100),
    ]
    expected = [encode(o) for o in run(Engine(), records)]
    assert any(b'"risk_matrix"' in e for e in expected)
    for cut in range(0, len(records), 5):
        first = Engine()
        head = run(first, records[:cut])
        restored = Engine()
        restored.restore(first.snapshot())
        assert restored.snapshot() == first.snapshot()
        tail = run(restored, records[cut:])
        assert [encode(o) for o in head + tail] == expected, f"cut at {cut}"


def test_an_unsourced_index_jump_is_the_latest_index_as_spec_says() -> None:
    engine = Engine()
    run(engine, [*market(), b.trade("t1", 10, "BTC-PERPETUAL", "buy", 1000)])
    out = run(engine, [b.index("x1", 11, 45000.0)])  # −26% in one event, no source
    exp = of(Exposure, out)[-1]
    assert exp.delta_usd == pytest.approx(exp.delta * 45000.0, rel=1e-15)
    assert not exp.stale and not exp.oracle_divergence


def test_streamed_matrices_follow_a_scenario_file_like_stress(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from greekstream.runtime.scenario_files import engine_config, load

    path = tmp_path / "grids.yaml"
    path.write_text("grids:\n  default: {price_shocks: [-0.2, 0, 0.2]}\n"
                    "  BTC: {price_shocks: [-0.4, -0.2, 0, 0.2, 0.4], vol_shocks: [0, 0.3]}\n"
                    "scenarios:\n  - name: crash\n    shocks:\n"
                    "      default: {price_shock: -0.5, vol_shock: 0.5}\n")
    config = engine_config(None, str(path))
    assert config.grid_for("BTC") is config.grid_for("BTC")  # memoised: one Grid object
    records = stream()
    matrices = of(RiskMatrixEvent, run(Engine(config), records))
    assert matrices
    for m in matrices:
        cells = list(zip(m.price_shocks, m.vol_shocks, m.names, strict=True))
        assert len(cells) == 5 * 2 + 1 and cells[-1] == (-0.5, 0.5, "crash")
    last = matrices[-1]
    engine = Engine(config)
    run(engine, [r for r in records if parse_ts(orjson.loads(r)["ts"]) <= last.ts])
    row, total = json_rows(stress_reports(engine, last.ts, load(path), book="desk-a"), last.ts)
    assert total["underlying"] == "ALL"  # the book's named scenarios over its underlyings
    assert [s["pnl"] for s in row["scenarios"]] == last.pnl
    assert row["worst_loss"] == last.worst_loss

"""Tie-breaks of the at-the-money option (core/regime.py ``atm_option``), through
Engine.handle: the `regime` record's `implied_instrument`.

docs/regimes.md, *Implied vol*: among the underlying's quoted, unexpired options, "the
one nearest 30 days to expiry, then nearest the money (|ln K/F|), then by id" (SPEC:
"nearest to 30 days and to the money"). So days to expiry decide first; options
exactly as far from 30 days (20 and 40) go to the one nearer the money; options as far
from the money on both sides (K = F/2, K = 2F: |ln K/F| equal) go to the smaller id."""

from __future__ import annotations

from greekstream.core.engine import Engine, EngineConfig
from greekstream.core.events import Regime
from tests.unit import builders as b

DAY = 86400
FWD = 60000.0
REGIME_AT = 3610  # the first regime: an hour of index history (10 s .. 3610 s)


def first_regime(options: list[tuple[str, float, float, float]]) -> Regime:
    """Options (id, days to expiry at REGIME_AT, strike, iv), each quoted at FWD; then an
    hour of calm index moves: the first `regime` record."""
    engine = Engine(EngineConfig(emit_interval_ms=0))
    records = []
    for iid, days, strike, iv in options:
        records.append(b.option(iid, strike, expiry=b.ts(REGIME_AT + days * DAY)))
        records.append(b.quote_opt(f"q-{iid}", 2, iid, FWD, iv))
    records += [b.index(f"x{i}", 10 + 60 * i, 61000 * (1 + 0.0002 * (-1) ** i))
                for i in range(61)]
    regimes = []
    for i, raw in enumerate(records):
        out = engine.handle(raw, f"s:{i}")
        assert [o for o in out if o.type == "rejected"] == []
        regimes += [o for o in out if isinstance(o, Regime)]
    assert regimes, "no regime record"
    assert regimes[0].ts == b.parse(b.ts(REGIME_AT))
    return regimes[0]


def test_days_to_expiry_come_before_the_money() -> None:
    regime = first_regime([("A-25d-OTM", 25, 90000, 0.70), ("Z-40d-ATM", 40, FWD, 0.60)])
    assert regime.implied_instrument == "A-25d-OTM" and regime.implied_vol == 0.70


def test_options_as_far_from_30_days_either_side_go_to_the_nearer_the_money() -> None:
    regime = first_regime([("A-20d-OTM", 20, 66000, 0.70), ("Z-40d-ATM", 40, FWD, 0.60)])
    assert regime.implied_instrument == "Z-40d-ATM" and regime.implied_vol == 0.60
    regime = first_regime([("A-40d-OTM", 40, 66000, 0.70), ("Z-20d-ATM", 20, FWD, 0.60)])
    assert regime.implied_instrument == "Z-20d-ATM" and regime.implied_vol == 0.60


def test_options_as_far_from_the_money_either_side_go_to_the_smaller_id() -> None:
    # ln(30000/60000) = −ln(120000/60000) exactly; "BTC-K120000" < "BTC-K30000"
    for order in (1, -1):
        options = [("BTC-K30000", 30, 30000, 0.70), ("BTC-K120000", 30, 120000, 0.60)]
        regime = first_regime(options[::order])
        assert regime.implied_instrument == "BTC-K120000" and regime.implied_vol == 0.60

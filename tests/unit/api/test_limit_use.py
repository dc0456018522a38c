"""The overview's "limit use": every limit a desk sets, not the Greeks' alone."""

from __future__ import annotations

import pytest

from greekstream.api.overview import FLOOR_USE_CAP, floor_use_pct, limit_use, regime_factor


def test_a_floor_is_used_by_how_near_the_value_is_to_it() -> None:
    assert floor_use_pct(0.24, 0.12) == 50.0  # twice the floor away
    assert floor_use_pct(0.12, 0.12) == 100.0
    assert floor_use_pct(0.06, 0.12) == 200.0  # half the floor: breached
    assert floor_use_pct(0.0, 0.12) == FLOOR_USE_CAP and floor_use_pct(1e-9, 1.0) == FLOOR_USE_CAP
    assert floor_use_pct(None, 0.12) is None and floor_use_pct(0.5, None) is None


def test_a_health_factor_breach_uses_its_limit_and_not_three_percent() -> None:
    """The treasury's ETH row had an open health-factor breach (1.2483 under 1.25) and a
    delta 3% of its limit: "limit use" said 3%. The breach's floor counts, at the value
    that opened it (the store keeps no other health factor)."""
    exposure = {"delta": 750.0, "gamma": 0.0, "vega": 0.0, "theta": 0.0}
    limits = {"max_abs_delta": 25_000.0, "min_health_factor": 1.25}
    breach = {"metric": "health_factor", "value": 1.2483, "limit": 1.25}
    use = limit_use(exposure, limits, {}, [breach])
    assert use["delta"] == 3.0
    assert use["health_factor"] is not None and 100.0 < use["health_factor"] < 100.2
    assert limit_use(exposure, limits, {}, [])["health_factor"] is None  # nothing to say


def test_the_liquidation_distance_uses_the_nearer_move_of_the_latest_matrix() -> None:
    limits = {"min_liq_distance": 0.12}
    risk = {"liq_move_down": -0.30, "liq_move_up": 0.08}
    assert limit_use({}, limits, risk, [])["liq_distance"] == 150.0
    assert limit_use({}, limits, {"liq_move_down": None, "liq_move_up": None},
                     [])["liq_distance"] is None
    assert limit_use({}, {}, risk, [])["liq_distance"] is None  # no floor set


def test_a_maximum_is_scaled_for_the_regime_as_the_engine_checks_it() -> None:
    """A desk halving its delta limit while the market is stressed: the engine breaches
    at half the limit, and the overview's use doubles with it (theta's floor is not
    scaled, as in the engine)."""
    exposure = {"delta": 60.0, "theta": -50.0}
    limits = {"max_abs_delta": 100.0, "min_theta": -100.0,
              "regime_scale": {"stressed": 0.5, "calm": 1.5}}
    assert limit_use(exposure, limits, {}, [])["delta"] == 60.0
    assert limit_use(exposure, limits, {}, [], "normal")["delta"] == 60.0  # not listed
    stressed = limit_use(exposure, limits, {}, [], "stressed")
    assert stressed["delta"] == 120.0 and stressed["theta"] == 50.0
    assert limit_use(exposure, limits, {}, [], "calm")["delta"] == 40.0


@pytest.mark.parametrize("scale", [[1, 2], {"calm": "x"}, {"calm": float("nan")}, "x", None])
def test_regime_factor_takes_no_scale_it_cannot_use(scale: object) -> None:
    """A regime_scale the engine would not take (limits_in_force leaves such a record
    out) is a factor of 1, never a crash of the overview."""
    assert regime_factor({"regime_scale": scale}, "calm") == 1.0
    assert regime_factor({"regime_scale": {"calm": 0.5}}, "calm") == 0.5


def test_the_overview_gives_the_limits_in_force_in_the_regime(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A delta limit of 100 halved while BTC is stressed: the engine breaches at 50, and
    the page drew its limit line at 100, above the breach it marked (the overview gave
    the limits as set only). Each row now has its regime and the limits in force."""
    from greekstream.api import overview as module

    at = 1_772_323_200_000_000
    limits = {"max_abs_delta": 100.0, "max_abs_vega": 1000.0, "min_theta": -100.0,
              "min_liq_distance": 0.1, "regime_scale": {"stressed": 0.5}}
    exposure = {"book": "desk-a", "underlying": "BTC", "delta": 60.0, "delta_equity": 60.0,
                "gamma": 0.0, "vega": 0.0, "theta": -50.0, "delta_usd": 6e6,
                "positions": 1, "ts": "2026-03-01T00:00:00Z"}
    monkeypatch.setattr(module, "history_span", lambda _h: (at - 1, at))
    monkeypatch.setattr(module, "stored_exposures_as_of", lambda *_a: [
        exposure, {**exposure, "book": "desk-b"}])
    monkeypatch.setattr(module, "limits_in_force", lambda *_a: {
        ("desk-a", "BTC"): limits, ("desk-b", "BTC"): {"max_abs_delta": 100.0}})
    monkeypatch.setattr(module, "latest_risk", lambda *_a: {})
    monkeypatch.setattr(module, "latest_pnl", lambda *_a: {})
    monkeypatch.setattr(module, "open_breaches", lambda *_a: [])
    monkeypatch.setattr(module, "regimes_in_force", lambda *_a: {"BTC": "stressed"})
    rows = {r["book"]: r for r in module.overview(object(), ["desk-a", "desk-b"])["rows"]}  # type: ignore[arg-type]
    a = rows["desk-a"]
    assert a["regime"] == "stressed" and a["limits"]["max_abs_delta"] == 100.0
    assert a["limits_in_force"] == {"max_abs_delta": 50.0, "max_abs_gamma": None,
                                    "max_abs_vega": 500.0, "min_theta": -100.0,
                                    "min_liq_distance": 0.1, "min_health_factor": None}
    assert a["use_pct"]["delta"] == 120.0  # against the limit in force, as before
    assert rows["desk-b"]["limits_in_force"]["max_abs_delta"] == 100.0  # no regime_scale


def test_a_token_that_sees_no_book_is_told_the_store_holds_events(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The overview of no books had as_of null, which the page shows as "no events
    stored", over a store holding them (a new desk's token before its first trade)."""
    from greekstream.api import overview as module

    monkeypatch.setattr(module, "history_span", lambda _h: (1, 1_772_323_200_000_000))
    assert module.overview(object(), []) == {  # type: ignore[arg-type]
        "as_of": "2026-03-01T00:00:00Z", "rows": [], "open_breaches": [], "top": []}
    monkeypatch.setattr(module, "history_span", lambda _h: None)
    assert module.overview(object(), [])["as_of"] is None  # type: ignore[arg-type]

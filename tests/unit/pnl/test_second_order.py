"""Vanna and volga (core/greeks.py) against QuantLib: it has no vanna/volga, so they are
bump-and-reval of its BlackCalculator's forward delta and vega in σ (central, h = 1e-5·σ),
held to 1e-6 relative. The scalar and vector kernels agree; inverse vanna is the σ-slope
of the net transaction delta."""

from __future__ import annotations

import math

import numpy as np
import pytest
import QuantLib as ql

from greekstream.core.greeks import black76, vanna_volga, vanna_volga_scalar

pytestmark = pytest.mark.timeout(60)


def _ql(f: float, k: float, t: float, s: float, call: bool) -> tuple[float, float]:
    def calc(vol: float) -> ql.BlackCalculator:
        payoff = ql.PlainVanillaPayoff(ql.Option.Call if call else ql.Option.Put, k)
        return ql.BlackCalculator(payoff, f, vol * math.sqrt(t), 1.0)

    h = 1e-5 * s
    up, down = calc(s + h), calc(s - h)
    vanna = (up.deltaForward() - down.deltaForward()) / (2 * h) / 100.0
    volga = (up.vega(t) - down.vega(t)) / 100.0 / (2 * h) / 100.0
    return vanna, volga


def _sample(n: int = 400) -> list[tuple[float, float, float, float, bool]]:
    rng = np.random.default_rng(20261129)
    rows = []
    for _ in range(n):
        f = float(np.exp(rng.uniform(math.log(100.0), math.log(1e5))))
        t = float(np.exp(rng.uniform(math.log(0.005), math.log(2.0))))
        s = float(rng.uniform(0.2, 1.5))
        z = float(rng.uniform(-2.5, 2.5))
        rows.append((f, f * math.exp(-z * s * math.sqrt(t)), t, s, bool(rng.random() < 0.5)))
    return rows


def test_vanna_and_volga_match_quantlib_bump_and_reval() -> None:
    bad = []
    for f, k, t, s, call in _sample():
        want_vanna, want_volga = _ql(f, k, t, s, call)
        got_vanna, got_volga = vanna_volga_scalar(f, k, t, s)
        # where d2 (vanna) or d1·d2 (volga) crosses 0 the value itself is ~0: measure
        # against the size of the terms (φ√T/100 per vol point, and vega/100)
        vanna_scale = math.exp(-0.5 * (math.log(f / k) / (s * math.sqrt(t))) ** 2) / 100.0
        volga_scale = f * math.sqrt(t) * vanna_scale / 100.0
        for name, got, want, scale in (("vanna", got_vanna, want_vanna, vanna_scale),
                                       ("volga", got_volga, want_volga, volga_scale)):
            if abs(got - want) > 1e-6 * max(abs(want), 1e-3 * scale):
                bad.append((name, f, k, t, s, call, got, want))
    assert not bad, bad[:5]


def test_vector_kernel_equals_scalar_and_inverse_vanna_is_the_net_delta_slope() -> None:
    rows = _sample(200)
    f, k, t, s, call = (np.array(c) for c in zip(*rows, strict=True))
    vec = vanna_volga(f, k, t, s)
    inv = vanna_volga(f, k, t, s, inverse=np.ones_like(call))
    for i, (fi, ki, ti, si, _) in enumerate(rows):
        assert (vec.vanna[i], vec.volga[i]) == pytest.approx(vanna_volga_scalar(fi, ki, ti, si),
                                                             rel=1e-12, abs=1e-300)
        # the scalar path of an inverse option (a quote's, through black76_full_scalar)
        assert (inv.vanna[i], inv.volga[i]) == pytest.approx(
            vanna_volga_scalar(fi, ki, ti, si, True), rel=1e-12, abs=1e-300)
        h = 1e-5 * si
        up = black76(fi, ki, ti, si + h, call[i], inverse=True).delta
        down = black76(fi, ki, ti, si - h, call[i], inverse=True).delta
        bumped = (float(up) - float(down)) / (2 * h) / 100.0
        scale = 1e-3 * math.sqrt(ti) / 100.0
        assert abs(inv.vanna[i] - bumped) <= 1e-6 * max(abs(bumped), scale)


def test_expired_options_have_no_second_order() -> None:
    assert vanna_volga_scalar(100.0, 90.0, 0.0, 0.5) == (0.0, 0.0)
    got = vanna_volga(np.array([100.0]), np.array([90.0]), np.array([-1.0]), np.array([0.5]))
    assert (got.vanna[0], got.volga[0]) == (0.0, 0.0)

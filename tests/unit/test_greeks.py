"""The Black-76 kernel against QuantLib, against itself (scalar vs vector), and its properties.

QuantLib's ``BlackCalculator(payoff, F, stdDev=σ√T, discount=1)`` is Black-76 on the
forward with r = 0. Its forward Greeks map to SPEC.md's units per coin as:
value → value(), delta → deltaForward(), gamma → gammaForward(),
vega (per vol point) → vega(T) / 100, theta (per calendar day) → thetaPerDay(F, T)
(with spot = F and discount = 1, QuantLib's theta is −σ²F²Γ/(2T)·T/T = −Fφ(d1)σ/(2√T)).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import pytest
import QuantLib as ql
from hypothesis import given, settings
from hypothesis import strategies as st

from greekstream.core.greeks import Greeks, black76, black76_scalar, black76_value

pytestmark = pytest.mark.timeout(60)

FIELDS = ("value", "delta", "gamma", "vega", "theta")
N_OPTIONS = 20_000
RTOL = 1e-9
# Absolute floors, used only where the reference itself cancels. QuantLib prices a put
# as F·(N(d1) − 1) − K·(N(d2) − 1) and takes its delta as N(d1) − 1, so a deep
# out-of-the-money put comes out with an absolute error of a few ulps of 1 (often
# exactly 0); its normal cdf also uses an asymptotic series below 1e-8 that is only
# good to ~1e-9 relative (~1e-16 absolute). Observed worst: 1.3e-15 (delta) and
# 1.2e-15·max(F, K) (value); the floors below leave a factor ~8 on top of that.
DELTA_FLOOR = 1e-14
VALUE_FLOOR = 1e-14  # times max(F, K): the size of the two terms that cancel


class Sample(NamedTuple):
    forward: np.ndarray
    strike: np.ndarray
    years: np.ndarray
    vol: np.ndarray
    is_call: np.ndarray


def _random_options(n: int, seed: int, min_years: float = 1e-5) -> Sample:
    """Calls and puts from deep in to deep out of the money, minutes to years, vol 5%–300%.

    Moneyness is drawn in standard deviations, z = ln(F/K)/(σ√T): half within ±4,
    half within ±8. Beyond ~8σ√T, QuantLib's gammaForward/vega lose digits to a
    cancellation of terms ~|z|/(σ√T) (see test_smooth_greeks_match_extended_precision),
    and 1e-9 relative would test QuantLib rather than us. T ≥ 1e-5 years (5 minutes)
    for the same reason.
    """
    rng = np.random.default_rng(seed)
    forward = np.exp(rng.uniform(math.log(0.05), math.log(2e5), n))
    years = np.exp(rng.uniform(math.log(min_years), math.log(3.0), n))
    vol = rng.uniform(0.05, 3.0, n)
    z = np.where(rng.random(n) < 0.5, rng.uniform(-4.0, 4.0, n), rng.uniform(-8.0, 8.0, n))
    strike = forward * np.exp(-z * vol * np.sqrt(years))
    return Sample(forward, strike, years, vol, rng.random(n) < 0.5)


def _quantlib(o: Sample) -> Greeks:
    out = np.empty((5, len(o.forward)))
    for i, (f, k, t, s, call) in enumerate(zip(*o, strict=True)):
        payoff = ql.PlainVanillaPayoff(ql.Option.Call if call else ql.Option.Put, float(k))
        c = ql.BlackCalculator(payoff, float(f), float(s * math.sqrt(t)), 1.0)
        out[:, i] = (c.value(), c.deltaForward(), c.gammaForward(), c.vega(float(t)) / 100.0,
                     c.thetaPerDay(float(f), float(t)))
    return Greeks(*out)


@pytest.fixture(scope="module")
def sample() -> Sample:
    return _random_options(N_OPTIONS, seed=20260301)


@pytest.fixture(scope="module")
def reference(sample: Sample) -> Greeks:
    return _quantlib(sample)


def _floor(name: str, o: Sample) -> np.ndarray | float:
    if name == "value":
        return VALUE_FLOOR * np.maximum(o.forward, o.strike)
    return DELTA_FLOOR if name == "delta" else 0.0


def _assert_close(name: str, got: np.ndarray, want: np.ndarray, floor: np.ndarray | float,
                  rtol: float = RTOL) -> None:
    err = np.abs(got - want)
    bad = err > np.maximum(rtol * np.abs(want), floor)
    if bad.any():
        i = int(np.argmax(np.where(bad, err / np.maximum(np.abs(want), 1e-300), 0.0)))
        pytest.fail(f"{name}: {int(bad.sum())} of {len(got)} outside tolerance; "
                    f"worst #{i}: got {got[i]!r}, want {want[i]!r}")


def test_the_sample_covers_the_hard_corners(sample: Sample) -> None:
    z = np.log(sample.forward / sample.strike) / (sample.vol * np.sqrt(sample.years))
    assert len(sample.forward) >= 10_000
    assert sample.is_call.sum() > 9_000 and (~sample.is_call).sum() > 9_000
    assert (z > 6).sum() > 1_000 and (z < -6).sum() > 1_000
    assert (sample.years < 1e-4).sum() > 1_000 and sample.years.max() > 2.0
    assert sample.vol.min() < 0.06 and sample.vol.max() > 2.9


@pytest.mark.parametrize("name", FIELDS)
def test_black76_matches_quantlib(name: str, sample: Sample, reference: Greeks) -> None:
    got = getattr(black76(*sample), name)
    _assert_close(name, got, getattr(reference, name), _floor(name, sample))


def test_inverse_delta_is_black_delta_minus_value_in_coin(sample: Sample,
                                                          reference: Greeks) -> None:
    got = black76(*sample, inverse=np.ones_like(sample.is_call)).delta
    want = reference.delta - reference.value / sample.forward
    floor = DELTA_FLOOR + VALUE_FLOOR * np.maximum(1.0, sample.strike / sample.forward)
    _assert_close("inverse delta", got, want, floor)


def test_inverse_flag_changes_only_the_delta_of_the_flagged(sample: Sample) -> None:
    flags = np.arange(len(sample.forward)) % 2 == 0
    mixed, linear = black76(*sample, inverse=flags), black76(*sample)
    for name in ("value", "gamma", "vega", "theta"):
        np.testing.assert_array_equal(getattr(mixed, name), getattr(linear, name))
    np.testing.assert_array_equal(mixed.delta[~flags], linear.delta[~flags])
    assert not np.array_equal(mixed.delta[flags], linear.delta[flags])


def test_smooth_greeks_match_extended_precision() -> None:
    """Gamma, vega, theta by the SPEC formulas in 80-bit long double, down to 3 seconds to expiry.

    Shows that the ~1e-10 differences from QuantLib at |z| ~ 8 are QuantLib's.
    """
    if np.finfo(np.longdouble).eps >= np.finfo(np.float64).eps:
        pytest.skip("no extended precision long double on this platform")
    o = _random_options(5_000, seed=7, min_years=1e-7)
    f, k, t, s = (np.asarray(a, dtype=np.longdouble) for a in o[:4])
    sig = s * np.sqrt(t)
    d1 = (np.log(f / k) + sig * sig / 2) / sig
    pdf = np.exp(-d1 * d1 / 2) / np.sqrt(2 * np.longdouble(math.pi))
    want = {"gamma": pdf / (f * sig), "vega": f * pdf * np.sqrt(t) / 100,
            "theta": -f * pdf * s / (2 * np.sqrt(t)) / 365}
    got = black76(*o)
    for name, exact in want.items():
        # Rounding of F/K moves d1 by ~ulp/σ√T, and φ by d1·that: ~1e-11 at σ√T ~ 5e-5, |z| = 8.
        _assert_close(name, getattr(got, name), exact.astype(np.float64), 0.0, rtol=1e-10)


@pytest.mark.parametrize("inverse", [False, True])
def test_scalar_path_equals_vector_path(sample: Sample, inverse: bool) -> None:
    vec = black76(*sample, inverse=np.full(len(sample.forward), inverse))
    rows = [black76_scalar(float(f), float(k), float(t), float(s), bool(c), inverse)
            for f, k, t, s, c in zip(*sample, strict=True)]
    scalar = np.array(rows).T
    # math.erfc and scipy's ndtr differ by a few ulps in the tails (worst seen 3e-14
    # relative); only a deep out-of-the-money value, F·N(d1) − K·N(d2) with both terms
    # nearly equal, magnifies that, so it alone gets a floor: 1e-15 of the terms.
    value_floor = 1e-15 * np.maximum(sample.forward, sample.strike)
    for j, name in enumerate(FIELDS):
        floor = value_floor if name == "value" else 0.0
        _assert_close(f"scalar {name}", scalar[j], getattr(vec, name), floor, rtol=1e-12)


def test_black76_value_equals_the_full_kernel(sample: Sample) -> None:
    np.testing.assert_array_equal(black76_value(*sample), black76(*sample).value)


# --- properties -----------------------------------------------------------------------

forwards = st.floats(1e-2, 1e6)
log_moneyness = st.floats(-3.0, 3.0)
years = st.floats(1e-6, 5.0)
vols = st.floats(0.01, 3.0)


def _pair(f: float, m: float, t: float, s: float, inverse: bool = False) -> tuple[Greeks, float]:
    """Call (index 0) and put (index 1) on the same forward, strike K = F·e^−m, T, σ."""
    k = f * math.exp(-m)
    g = black76(np.array([f, f]), np.array([k, k]), np.array([t, t]), np.array([s, s]),
                np.array([True, False]), inverse=np.array([inverse, inverse]))
    return g, k


@settings(max_examples=300, deadline=None)
@given(forwards, log_moneyness, years, vols)
def test_put_call_parity_of_value_and_linear_delta(f: float, m: float, t: float,
                                                   s: float) -> None:
    g, k = _pair(f, m, t, s)
    assert g.value[0] - g.value[1] == pytest.approx(f - k, rel=1e-12, abs=1e-13 * max(f, k))
    assert g.delta[0] - g.delta[1] == pytest.approx(1.0, abs=1e-14)


@settings(max_examples=300, deadline=None)
@given(forwards, log_moneyness, years, vols)
def test_put_call_parity_of_inverse_delta(f: float, m: float, t: float, s: float) -> None:
    # delta_inv = N-delta − V/F, so call − put = 1 − (V_c − V_p)/F = 1 − (F − K)/F = K/F.
    g, k = _pair(f, m, t, s, inverse=True)
    assert g.delta[0] - g.delta[1] == pytest.approx(k / f, rel=1e-12,
                                                    abs=1e-13 * max(1.0, k / f))


@settings(max_examples=200, deadline=None)
@given(forwards, log_moneyness, years, vols)
def test_gamma_vega_theta_do_not_depend_on_call_or_put(f: float, m: float, t: float,
                                                       s: float) -> None:
    g, _ = _pair(f, m, t, s)
    for name in ("gamma", "vega", "theta"):
        call, put = getattr(g, name)
        assert call == pytest.approx(put, rel=1e-14, abs=0.0)
    assert g.gamma[0] >= 0.0 and g.vega[0] >= 0.0 and g.theta[0] <= 0.0


@settings(max_examples=300, deadline=None)
@given(forwards, log_moneyness, years, vols, st.integers(-20, 20), st.booleans())
def test_homogeneity_in_forward_and_strike(f: float, m: float, t: float, s: float,
                                           power: int, inverse: bool) -> None:
    # A power-of-two scale keeps F/K exact, so the only differences are final roundings.
    lam = 2.0**power
    g, _ = _pair(f, m, t, s, inverse)
    h, _ = _pair(f * lam, m, t, s, inverse)
    for name, scale in (("value", lam), ("delta", 1.0), ("gamma", 1 / lam), ("vega", lam),
                        ("theta", lam)):
        # subnormal results (< 2.2e-308, deep out of the money) carry fewer significant
        # bits, so they are compared to the subnormal spacing rather than relatively
        tiny = float(np.finfo(np.float64).tiny) * max(scale, 1.0)
        assert getattr(h, name) == pytest.approx(getattr(g, name) * scale, rel=1e-13, abs=tiny)


@settings(max_examples=300, deadline=None)
@given(forwards, log_moneyness, years, st.floats(0.01, 3.0))
def test_call_on_f_struck_at_k_is_worth_the_put_on_k_struck_at_f(f: float, m: float, t: float,
                                                                 s: float) -> None:
    # r = 0 Black: C(F, K) = P(K, F), d1 and d2 swap roles with a sign change.
    k = f * math.exp(-m)
    call = black76(np.array(f), np.array(k), np.array(t), np.array(s), np.array(True))
    put = black76(np.array(k), np.array(f), np.array(t), np.array(s), np.array(False))
    # ln(F/K) and ln(K/F) round separately: d1 moves by ~ulp/(σ√T), which the value
    # feels as ~F·φ(d1)·ulp/(σ√T) absolute.
    slack = 4e-16 * max(f, k) / (s * math.sqrt(t))
    assert float(call.value) == pytest.approx(float(put.value), rel=1e-12, abs=slack)


@settings(max_examples=300, deadline=None)
@given(forwards, log_moneyness, st.floats(-5.0, 0.0), vols, st.booleans(), st.booleans())
def test_expired_options_are_worth_intrinsic_with_zero_greeks(f: float, m: float, t: float,
                                                              s: float, is_call: bool,
                                                              inverse: bool) -> None:
    k = f * math.exp(-m)
    intrinsic = max(f - k, 0.0) if is_call else max(k - f, 0.0)
    g = black76(np.array([f]), np.array([k]), np.array([t]), np.array([s]),
                np.array([is_call]), inverse=np.array([inverse]))
    scalar = black76_scalar(f, k, t, s, is_call, inverse)
    for got in (tuple(float(x[0]) for x in g), tuple(scalar)):
        assert got == (intrinsic, 0.0, 0.0, 0.0, 0.0)
    assert float(black76_value(np.array(f), np.array(k), np.array(t), np.array(s),
                               np.array(is_call))) == intrinsic


@settings(max_examples=200, deadline=None)
@given(st.lists(forwards, min_size=2, max_size=40, unique=True), st.floats(1e-2, 1e6),
       years, vols)
def test_call_value_rises_and_put_value_falls_with_the_forward(fs: list[float], k: float,
                                                               t: float, s: float) -> None:
    f = np.sort(np.array(fs))
    n = len(f)
    calls = black76(f, np.full(n, k), np.full(n, t), np.full(n, s), np.ones(n, dtype=bool))
    puts = black76(f, np.full(n, k), np.full(n, t), np.full(n, s), np.zeros(n, dtype=bool))
    ulps = 1e-15 * np.maximum(f, k)[1:]
    assert (np.diff(calls.value) >= -ulps).all()
    assert (np.diff(puts.value) <= ulps).all()
    assert ((calls.delta >= 0.0) & (calls.delta <= 1.0)).all()
    assert ((puts.delta >= -1.0) & (puts.delta <= 0.0)).all()

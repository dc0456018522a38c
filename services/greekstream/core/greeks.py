"""Black-76 on the forward with r = 0: values and Greeks, per 1 coin of notional.

Two implementations of the same formulas (docs/contract.md, *Greeks*):

* :func:`black76` — the vectorized numpy kernel over arrays of options, used
  for full revaluations, scenario grids and as-of snapshots;
* :func:`black76_scalar` — the same maths on Python floats with ``math.erfc``,
  used by the engine when one quote revalues one instrument (a 1-element
  numpy call costs more than the whole scalar evaluation).

A test keeps them equal to the last few ulps. Units, per coin (q = 1):
value in USD, delta in coin, gamma in coin per USD, vega in USD per vol
point (1/100 of σ), theta in USD per calendar day (1/365 of a year).
Options with T <= 0 are expired: value is intrinsic, every Greek is 0.

Second order (:func:`vanna_volga`, :func:`vanna_volga_scalar`), per coin and per vol
point: vanna = ∂delta/∂σ / 100 = −φ(d1)·d2/(100σ) (coin per vol point; for an inverse
option the derivative of its net transaction delta, vanna − φ(d1)√T/100), volga =
∂vega/∂σ / 100 = vega·d1·d2/(100σ) (USD per vol point per vol point).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import numpy.typing as npt
from scipy.special import ndtr

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

_SQRT2 = math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


class Greeks(NamedTuple):
    value: FloatArray
    delta: FloatArray
    gamma: FloatArray
    vega: FloatArray
    theta: FloatArray


class ScalarGreeks(NamedTuple):
    value: float
    delta: float
    gamma: float
    vega: float
    theta: float


def black76(
    forward: FloatArray,
    strike: FloatArray,
    years: FloatArray,
    vol: FloatArray,
    is_call: BoolArray,
    inverse: BoolArray | None = None,
) -> Greeks:
    """Black-76 value and Greeks per coin for arrays of options (broadcasting allowed).

    ``inverse`` marks inverse (coin-settled) options: their delta is the net
    transaction delta, Black delta minus the option value in coin (V/F).
    """
    f = np.asarray(forward, dtype=np.float64)
    k = np.asarray(strike, dtype=np.float64)
    t = np.asarray(years, dtype=np.float64)
    s = np.asarray(vol, dtype=np.float64)
    call = np.asarray(is_call, dtype=np.bool_)
    live = t > 0.0
    t_safe = np.where(live, t, 1.0)
    sqrt_t = np.sqrt(t_safe)
    sig_sqrt_t = s * sqrt_t
    d1 = (np.log(f / k) + 0.5 * sig_sqrt_t * sig_sqrt_t) / sig_sqrt_t
    d2 = d1 - sig_sqrt_t
    sign = np.where(call, 1.0, -1.0)
    # Put delta as -N(-d1), not N(d1) - 1, so deep out-of-the-money puts keep their digits.
    n1 = ndtr(sign * d1)
    n2 = ndtr(sign * d2)
    value_live = sign * (f * n1 - k * n2)
    delta_live = sign * n1
    pdf = np.exp(-0.5 * d1 * d1) * _INV_SQRT_2PI
    gamma_live = pdf / (f * sig_sqrt_t)
    vega_live = f * pdf * sqrt_t / 100.0
    theta_live = -f * pdf * s / (2.0 * sqrt_t) / 365.0
    intrinsic = np.maximum(sign * (f - k), 0.0)
    value = np.where(live, value_live, intrinsic)
    delta = np.where(live, delta_live, 0.0)
    if inverse is not None:
        delta = np.where(live & np.asarray(inverse, dtype=np.bool_), delta - value / f, delta)
    zero = np.zeros_like(value)
    return Greeks(
        value=value,
        delta=delta,
        gamma=np.where(live, gamma_live, zero),
        vega=np.where(live, vega_live, zero),
        theta=np.where(live, theta_live, zero),
    )


def black76_value(
    forward: FloatArray, strike: FloatArray, years: FloatArray, vol: FloatArray, is_call: BoolArray
) -> FloatArray:
    """Black-76 value only (USD per coin); intrinsic where T <= 0. For scenario grids."""
    f = np.asarray(forward, dtype=np.float64)
    k = np.asarray(strike, dtype=np.float64)
    t = np.asarray(years, dtype=np.float64)
    s = np.asarray(vol, dtype=np.float64)
    sign = np.where(np.asarray(is_call, dtype=np.bool_), 1.0, -1.0)
    live = t > 0.0
    sig_sqrt_t = s * np.sqrt(np.where(live, t, 1.0))
    d1 = (np.log(f / k) + 0.5 * sig_sqrt_t * sig_sqrt_t) / sig_sqrt_t
    d2 = d1 - sig_sqrt_t
    value_live = sign * (f * ndtr(sign * d1) - k * ndtr(sign * d2))
    result: FloatArray = np.where(live, value_live, np.maximum(sign * (f - k), 0.0))
    return result


def _ncdf(x: float) -> float:
    return 0.5 * math.erfc(-x / _SQRT2)


def black76_scalar(
    forward: float, strike: float, years: float, vol: float, is_call: bool, inverse: bool = False
) -> ScalarGreeks:
    """The same as :func:`black76` for one option, on Python floats."""
    return black76_full_scalar(forward, strike, years, vol, is_call, inverse)[0]


def black76_full_scalar(
    forward: float, strike: float, years: float, vol: float, is_call: bool, inverse: bool = False
) -> tuple[ScalarGreeks, float, float]:
    """:func:`black76_scalar` and :func:`vanna_volga_scalar` of one option in one pass
    (a quote revalues its option with both): d1, d2 and the density once, each result by
    the same operations as alone, so the same bits."""
    sign = 1.0 if is_call else -1.0
    if years <= 0.0:
        return ScalarGreeks(max(sign * (forward - strike), 0.0), 0.0, 0.0, 0.0, 0.0), 0.0, 0.0
    sqrt_t = math.sqrt(years)
    sig_sqrt_t = vol * sqrt_t
    d1 = (math.log(forward / strike) + 0.5 * sig_sqrt_t * sig_sqrt_t) / sig_sqrt_t
    d2 = d1 - sig_sqrt_t
    n1 = _ncdf(sign * d1)
    value = sign * (forward * n1 - strike * _ncdf(sign * d2))
    delta = sign * n1
    if inverse:
        delta -= value / forward
    pdf = math.exp(-0.5 * d1 * d1) * _INV_SQRT_2PI
    vanna = -pdf * d2 / (100.0 * vol)
    if inverse:
        vanna -= pdf * sqrt_t / 100.0
    greeks = ScalarGreeks(
        value=value,
        delta=delta,
        gamma=pdf / (forward * sig_sqrt_t),
        vega=forward * pdf * sqrt_t / 100.0,
        theta=-forward * pdf * vol / (2.0 * sqrt_t) / 365.0,
    )
    return greeks, vanna, forward * pdf * sqrt_t / 100.0 * d1 * d2 / (100.0 * vol)


class SecondOrder(NamedTuple):
    vanna: FloatArray
    volga: FloatArray


def vanna_volga(
    forward: FloatArray,
    strike: FloatArray,
    years: FloatArray,
    vol: FloatArray,
    inverse: BoolArray | None = None,
) -> SecondOrder:
    """Vanna and volga per coin and per vol point (0 where T <= 0); the same for calls
    and puts. ``inverse`` marks options whose delta is the net transaction delta."""
    f = np.asarray(forward, dtype=np.float64)
    k = np.asarray(strike, dtype=np.float64)
    t = np.asarray(years, dtype=np.float64)
    s = np.asarray(vol, dtype=np.float64)
    live = t > 0.0
    sqrt_t = np.sqrt(np.where(live, t, 1.0))
    sig_sqrt_t = s * sqrt_t
    d1 = (np.log(f / k) + 0.5 * sig_sqrt_t * sig_sqrt_t) / sig_sqrt_t
    d2 = d1 - sig_sqrt_t
    pdf = np.exp(-0.5 * d1 * d1) * _INV_SQRT_2PI
    vanna = -pdf * d2 / (100.0 * s)
    if inverse is not None:
        vanna = np.where(np.asarray(inverse, dtype=np.bool_), vanna - pdf * sqrt_t / 100.0,
                         vanna)
    volga = f * pdf * sqrt_t / 100.0 * d1 * d2 / (100.0 * s)
    zero = np.zeros_like(f * t)
    return SecondOrder(np.where(live, vanna, zero), np.where(live, volga, zero))


def vanna_volga_scalar(
    forward: float, strike: float, years: float, vol: float, inverse: bool = False
) -> tuple[float, float]:
    """The same as :func:`vanna_volga` for one option, on Python floats."""
    _, vanna, volga = black76_full_scalar(forward, strike, years, vol, True, inverse)
    return vanna, volga

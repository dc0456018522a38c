"""The per-core ceiling for the Greeks benchmark: Black-76 (r = 0) as a numba loop.

Same formulas and units as greekstream.core.greeks.black76 (value, delta, gamma,
vega per vol point, theta per calendar day), one pass per option into preallocated
outputs. ``serial`` runs on one thread, ``parallel`` splits the loop over numba's
threads. Not used by the service: only to show how close numpy gets to compiled code.
"""

from __future__ import annotations

import math

import numba
import numpy as np

_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_INV_SQRT2 = 1.0 / math.sqrt(2.0)


@numba.njit(inline="always", fastmath=False)
def _one(f: float, k: float, t: float, s: float, call: bool, out: np.ndarray, i: int) -> None:
    sign = 1.0 if call else -1.0
    if t <= 0.0:
        out[0, i] = max(sign * (f - k), 0.0)
        out[1, i] = out[2, i] = out[3, i] = out[4, i] = 0.0
        return
    sqrt_t = math.sqrt(t)
    sig = s * sqrt_t
    d1 = (math.log(f / k) + 0.5 * sig * sig) / sig
    d2 = d1 - sig
    n1 = 0.5 * math.erfc(-sign * d1 * _INV_SQRT2)
    n2 = 0.5 * math.erfc(-sign * d2 * _INV_SQRT2)
    pdf = math.exp(-0.5 * d1 * d1) * _INV_SQRT_2PI
    out[0, i] = sign * (f * n1 - k * n2)
    out[1, i] = sign * n1
    out[2, i] = pdf / (f * sig)
    out[3, i] = f * pdf * sqrt_t / 100.0
    out[4, i] = -f * pdf * s / (2.0 * sqrt_t) / 365.0


@numba.njit(cache=True)
def serial(f: np.ndarray, k: np.ndarray, t: np.ndarray, s: np.ndarray, call: np.ndarray,
           out: np.ndarray) -> None:
    for i in range(f.shape[0]):
        _one(f[i], k[i], t[i], s[i], call[i], out, i)


@numba.njit(cache=True, parallel=True)
def parallel(f: np.ndarray, k: np.ndarray, t: np.ndarray, s: np.ndarray, call: np.ndarray,
             out: np.ndarray) -> None:
    for i in numba.prange(f.shape[0]):
        _one(f[i], k[i], t[i], s[i], call[i], out, i)

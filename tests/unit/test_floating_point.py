"""The same output bits on every x86-64 host (services/greekstream/__init__.py).

numpy and OpenBLAS choose their kernels by the CPU when numpy is imported; an AVX-512
host rounded the last bit of about a quarter of the v1 sample day's risk matrices
differently from the AVX2 host the golden outputs were made on (tests/golden fails there
without the pin). greekstream holds both at the AVX2 level before numpy is imported."""

from __future__ import annotations

import os
import platform
import subprocess
import sys

import pytest

import greekstream

X86 = platform.machine().lower() in ("x86_64", "amd64")
FLAGS = greekstream._cpu_flags()
if X86 and not FLAGS:
    pytest.skip("no /proc/cpuinfo flags: the pin holds on Linux x86-64 hosts",
                allow_module_level=True)
PINNED = ("NPY_DISABLE_CPU_FEATURES", "OPENBLAS_CORETYPE", "OPENBLAS_NUM_THREADS")
PROBE = ("import os, greekstream, numpy; from numpy._core import _multiarray_umath as m; "
         f"print([os.environ.get(k) for k in {PINNED!r}]); "
         "print(sorted(f for f in m.__cpu_dispatch__ if m.__cpu_features__.get(f)))")


def _probe(**env: str) -> tuple[str, str]:
    clean = {k: v for k, v in os.environ.items() if k not in PINNED}
    out = subprocess.run([sys.executable, "-c", PROBE], env={**clean, **env}, check=True,
                         capture_output=True, text=True).stdout.splitlines()
    return out[0], out[1]


@pytest.mark.skipif(not X86, reason="the pin is for x86-64 hosts")
def test_a_greekstream_process_runs_numpy_at_the_avx2_level() -> None:
    settings, active = _probe()
    if "avx512f" in FLAGS:
        assert "X86_V4" not in active and "AVX512_SPR" not in active, active
        assert greekstream._AVX512_GROUPS in settings
    if {"avx2", "fma"} <= FLAGS:
        assert "'Haswell'" in settings
    assert "'1'" in settings  # OpenBLAS on one thread


@pytest.mark.skipif(not X86, reason="the pin is for x86-64 hosts")
def test_an_operators_own_setting_wins() -> None:
    settings, active = _probe(NPY_DISABLE_CPU_FEATURES="", OPENBLAS_CORETYPE="Prescott")
    assert settings.startswith("['', 'Prescott', ")
    if "avx512f" in FLAGS:
        assert "X86_V4" in active  # nothing disabled: numpy's own choice


@pytest.mark.skipif(not X86 or "avx512f" not in FLAGS, reason="needs an AVX-512 host")
def test_an_operators_enable_list_is_not_contradicted() -> None:
    """numpy refuses to import with both NPY_ENABLE_ and NPY_DISABLE_CPU_FEATURES set:
    an operator's enable list (here the AVX2 level) stands alone."""
    settings, active = _probe(NPY_ENABLE_CPU_FEATURES="X86_V3")
    assert settings.startswith("[None, 'Haswell', ")
    assert "X86_V4" not in active and "X86_V3" in active


@pytest.mark.skipif(not X86 or "avx512f" not in FLAGS, reason="needs an AVX-512 host")
def test_this_test_process_is_pinned_too() -> None:
    """tests/conftest.py imports greekstream before anything imports numpy, so the golden
    and reference tests run at the level the goldens were made at."""
    from numpy._core import _multiarray_umath as m
    if "NPY_DISABLE_CPU_FEATURES" in greekstream._PINNED:  # (not where CI set its own)
        assert not m.__cpu_features__.get("X86_V4")
    if "OPENBLAS_CORETYPE" in greekstream._PINNED:
        assert os.environ["OPENBLAS_CORETYPE"] == "Haswell"

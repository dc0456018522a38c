"""greekstream: an event-sourced streaming risk engine for crypto-derivatives desks."""

import os as _os
import platform as _platform

__version__ = "0.1.0"

# numpy >= 2.4 names its x86 dispatch groups so (numpy/_core/meson.build)
_AVX512_GROUPS = "X86_V4 AVX512_ICL AVX512_SPR"


def _cpu_flags() -> frozenset[str]:
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as handle:
            for line in handle:
                if line.startswith("flags"):
                    return frozenset(line.partition(":")[2].split())
    except OSError:
        pass
    return frozenset()


def _pin_floating_point() -> tuple[str, ...]:
    """The same output bits on every Linux x86-64 host (docs/engine.md, "The same bits on
    every host"). numpy picks its SIMD loops, and OpenBLAS its kernels, by the CPU when
    numpy is imported: on an AVX-512 host a quarter of a day's risk matrices differed in
    the last bit of a scenario P&L from an AVX2 host, and so did their hashes. Before numpy
    is imported (this runs first in every greekstream process), both are held at the AVX2
    level every supported host has, and OpenBLAS to one thread (the engine is
    single-threaded; a split sum would depend on the host's cores). An operator's own
    setting wins: a variable already set, or ``NPY_ENABLE_CPU_FEATURES`` (numpy refuses
    both). A host without AVX2 or without /proc/cpuinfo keeps numpy's choice. Returns the
    names it set."""
    if _platform.machine().lower() not in ("x86_64", "amd64"):
        return ()
    flags = _cpu_flags()
    wanted = {"OPENBLAS_NUM_THREADS": "1"}
    if "avx512f" in flags and not _os.environ.get("NPY_ENABLE_CPU_FEATURES"):
        wanted["NPY_DISABLE_CPU_FEATURES"] = _AVX512_GROUPS
    if {"avx2", "fma"} <= flags:
        wanted["OPENBLAS_CORETYPE"] = "Haswell"
    pinned = tuple(name for name in sorted(wanted) if name not in _os.environ)
    for name in pinned:
        _os.environ[name] = wanted[name]
    return pinned


_PINNED = _pin_floating_point()

"""Deterministic sample data: a Deribit-like day of events for the demo, the benchmark
stream and a small everything-file for integration tests, plus a lending-market loan
population (see :mod:`greekstream.sample.loans`).

    python -m greekstream.sample --out demo.jsonl                 # the demo day
    python -m greekstream.sample --profile bench --out bench.jsonl
    python -m greekstream.sample loans --count 5000 --asset ETH --out loans.jsonl

:func:`sample_path` generates a profile once into a cache directory and returns its path.
"""

from __future__ import annotations

import ast
import hashlib
import os
from pathlib import Path

from greekstream.sample.generate import PROFILES, profile, write_sample

DEFAULT_SEED = 7
# The largest --events and --count: ten times the largest run the docs and bench/ make
# (1,000,000 bench or market events, BENCH_EVENTS; 100,000 loans, bench/bench_cascade.py), so
# that a mistyped size is refused at once, not after hours of writing or out of memory.
MAX_EVENTS = 10_000_000
MAX_LOANS = 1_000_000
MAX_SEED = 2**64 - 1  # the seed is in event_ids: a longer one passes their 128 characters
__all__ = ["DEFAULT_SEED", "MAX_EVENTS", "MAX_LOANS", "MAX_SEED", "PROFILES", "cache_dir",
           "profile", "sample_path", "write_sample"]


def cache_dir() -> Path:
    """`$GREEKSTREAM_CACHE`, else ~/.cache/greekstream."""
    env = os.environ.get("GREEKSTREAM_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "greekstream"


def code_sources() -> list[Path]:
    """The source files whose code makes a sample's bytes: this package's, and every core
    module they import, at any depth (a quote's price is core.greeks.black76, its ts
    core.timeutil.format_ts). runtime/ (progress, file writing) changes no byte."""
    package = Path(__file__).parent
    root = package.parent  # services/greekstream
    todo = sorted(package.glob("*.py"))
    found = set(todo)
    while todo:
        for node in ast.walk(ast.parse(todo.pop().read_bytes())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
                    "greekstream.core."):
                assert node.module is not None
                target = root.joinpath(*node.module.split(".")[1:]).with_suffix(".py")
                if target.exists() and target not in found:
                    found.add(target)
                    todo.append(target)
    return sorted(found)


def _code_version() -> str:
    """A hash of the code that makes the samples (:func:`code_sources`): a changed
    generator or pricer never serves a stale file."""
    digest = hashlib.sha256()
    for path in code_sources():
        digest.update(path.read_bytes())
    return digest.hexdigest()[:10]


def sample_path(name: str = "demo", seed: int = DEFAULT_SEED) -> Path:
    """The path of profile `name`'s file, generating it on first use."""
    if name not in PROFILES:
        raise ValueError(f"unknown profile {name!r}; choose one of {', '.join(PROFILES)}")
    path = cache_dir() / f"sample-{name}-seed{seed}-{_code_version()}.jsonl"
    if not path.exists():
        write_sample(path, name, seed)
    return path

"""One machine-readable line per goal figure, collected by bench/run_all.py into the
issue's goal table:

    GOAL|figure|goal|measured|unit|peer|ratio to peer|met

``peer`` names what the figure is compared with in the same run ("" without one);
``met`` is ``met``, ``missed`` or ``n/a``. Every bench prints its own readable table
too; these lines are only for the summary.
"""

from __future__ import annotations

PREFIX = "GOAL|"


def goal(figure: str, target: str, measured: float | str, unit: str, met: bool | None,
         peer: str = "", ratio: float | None = None) -> None:
    """Print one GOAL line (stdout, flushed)."""
    value = f"{measured:,.1f}" if isinstance(measured, float) else str(measured)
    verdict = "n/a" if met is None else ("met" if met else "missed")
    ratio_text = "" if ratio is None else f"{ratio:.2f}x"
    fields = (figure, target, value, unit, peer, ratio_text, verdict)
    print(PREFIX + "|".join(f.replace("|", "/") for f in fields), flush=True)


def parse(line: str) -> dict[str, str] | None:
    """A GOAL line's fields, or None for any other line."""
    if not line.startswith(PREFIX):
        return None
    parts = line.rstrip("\n").split("|")[1:]
    if len(parts) != 7:
        return None
    keys = ("figure", "goal", "measured", "unit", "peer", "ratio", "met")
    return dict(zip(keys, parts, strict=True))

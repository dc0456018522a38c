"""What the README and the docs tell a newcomer about the query service and its page is
what the app serves: every route they name exists, and the page's helpers and drawing
technique they name are the ones in api/static/."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TEXTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
STATIC = ROOT / "services" / "greekstream" / "api" / "static"
# the page's own code (uPlot's vendored build is a library, not the page)
PAGE = "\n".join(p.read_text() for p in sorted(STATIC.iterdir())
                 if p.suffix in (".js", ".html", ".css") and not p.name.startswith("uPlot"))


def _source_routes() -> set[str]:
    """The routes declared in api/*.py (`@app.get("/v1/...")`)."""
    paths: set[str] = set()
    for src in (ROOT / "services" / "greekstream" / "api").glob("*.py"):
        paths |= set(re.findall(r'@app\.(?:get|post|put|delete)\(\s*"([^"]+)"', src.read_text()))
    assert "/v1/books" in paths
    return paths


def _matches(route: str, ref: str, prefix: bool) -> bool:
    """``ref`` (a path as the docs write it) is ``route``, or with ``prefix`` its start."""
    parts = route.split("/")
    if prefix:
        parts = parts[:len(ref.split("/"))]
    pattern = "/".join(re.sub(r"^\{[^}]+\}$", "[^/]+", p) for p in parts)
    return re.fullmatch(pattern, ref) is not None


def test_every_v1_route_the_docs_name_exists() -> None:
    routes = _source_routes()
    missing = []
    for path in TEXTS:
        for n, line in enumerate(path.read_text().splitlines(), 1):
            for ref, more in re.findall(r"(/v1/[\w{}%./-]*[\w}])(/\.\.\.|/…)?", line):
                # `/v1/books/fx%2Fdesk/...`: the start of some route
                if not any(_matches(r, ref, prefix=bool(more)) for r in routes):
                    missing.append(f"{path.relative_to(ROOT)}:{n}: {ref}")
    assert missing == []


def test_the_page_helpers_the_docs_name_exist() -> None:
    """docs/history.md names the helpers every piece of data goes through (`el(...)`):
    each must be a function of the page (an `svg(...)` helper was named long after the
    uPlot charts replaced it)."""
    text = (ROOT / "docs" / "history.md").read_text()
    para = text[text.index("**The page**"):]
    para = para[:para.index("\n\n")]
    named = re.findall(r"`(\w+)\([^`]*\)`", para)
    assert "el" in named
    missing = [h for h in named if not re.search(rf"\bfunction {h}\(|\bconst {h} =", PAGE)]
    assert missing == [], f"docs/history.md names page helpers that do not exist: {missing}"


def test_the_docs_do_not_say_the_page_draws_svg_when_it_does_not() -> None:
    if re.search(r"svg", PAGE, re.I):
        return
    wrong = [f"{p.relative_to(ROOT)}:{n}: {line.strip()[:120]}" for p in TEXTS
             for n, line in enumerate(p.read_text().splitlines(), 1)
             if re.search(r"\bSVG\b", line) and re.search(r"page|GET /|chart", line)]
    assert wrong == []

"""A newcomer's first hour: every page the README points at says where its sign-in token
is, and says it as the Makefile and docker-compose.yml do it."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from greekstream.commands import serve

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()
MAKEFILE = (ROOT / "Makefile").read_text()


def _serve_recipe() -> str:
    return MAKEFILE.split("\nserve:", 1)[1].split("\n\n", 1)[0]


def test_make_serve_token_file_and_url_are_the_readmes(tmp_path: Path) -> None:
    """`make serve` runs `serve --new-token FILE`, which writes the token alone to
    FILE.txt: the file the README tells the reader to open, on the Makefile's port."""
    recipe = _serve_recipe()
    (given,) = re.findall(r"--new-token (\S+)", recipe)
    target = tmp_path / "token"
    token = serve.new_token(str(target))
    assert (tmp_path / "token.txt").read_text().strip() == token
    assert f"{given}.txt" in README
    (port,) = re.findall(r"^PORT \?= (\d+)$", MAKEFILE, re.M)
    assert f"make serve    # serves that store on http://127.0.0.1:{port}/" in README


def test_the_readme_says_how_to_sign_in_to_the_compose_page() -> None:
    """`docker compose up` serves the page on localhost:8000 with the token compose sets
    (DEMO_TOKEN's default); the README's compose line points at the page, so it names
    that token too (the page asks for one before it shows anything)."""
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    tokens = compose["services"]["serve"]["environment"]["GREEKSTREAM_TOKENS_JSON"]
    (default,) = re.findall(r"\$\{DEMO_TOKEN:-([^}]+)\}", tokens)
    (line,) = [ln for ln in README.splitlines() if ln.startswith("docker compose up")]
    assert "http://localhost:8000" in line
    assert default in line, f"the README's compose line does not say to sign in with {default}"


def test_the_readme_links_every_docs_page() -> None:
    """The README is where a newcomer finds the docs: each docs/*.md page is linked there
    (docs/pnl.md, regimes, execution, reporting and engine were reachable only from other
    pages)."""
    linked = set(re.findall(r"\]\((docs/[\w-]+\.md)\)", README))
    pages = {f"docs/{p.name}" for p in (ROOT / "docs").glob("*.md")}
    assert sorted(pages - linked) == []


def test_the_readme_says_how_to_serve_on_another_port() -> None:
    """`make serve` fails when port 8000 is taken, and its hint names `--port`, which a
    make user cannot pass: the README names the Makefile's variable instead."""
    (var,) = re.findall(r"--port \$\((\w+)\)", _serve_recipe())
    assert re.search(rf"make serve {var}=\d+", README)

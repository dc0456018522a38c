"""The README, the docs and the help texts refer only to files in the repository, and
docs/contract.md covers every event type and every field of the registry."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from greekstream import cli
from greekstream.core.events import INPUT_TYPES, OUTPUT_TYPES

ROOT = Path(__file__).resolve().parents[2]
CONTRACT = ROOT / "docs" / "contract.md"
TEXTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), ROOT / "schemas/README.md"]
# every text file of the package: code, data, and the dashboard's page, script and styles
# the project's files (not pip's git-ignored *.egg-info, which lists the files of the
# last install and goes stale when a module moves)
SERVICES = sorted(p for p in (ROOT / "services").rglob("*")
                  if p.suffix in (".py", ".yaml", ".yml", ".json", ".js", ".html", ".css", ".txt",
                                  ".sql", ".md")
                  and not any(part.endswith(".egg-info") for part in p.parts))
SOURCES = [*SERVICES,
           *sorted((ROOT / "helm").rglob("*.yaml")), *sorted((ROOT / "helm").rglob("*.json")),
           ROOT / "docker-compose.yml", ROOT / "Dockerfile", ROOT / "Makefile"]
OUTSIDE = re.compile(r"SPEC\.md|\bSPEC\b|INFRA\.md|shared/")
# a path into the repository, e.g. docs/history.md or services/greekstream/core/engine.py
REPO_PATH = re.compile(r"(?<![\w/.$-])((?:docs|schemas|services|tests|helm|bench|scripts)/"
                       r"[\w./-]*\w\.(?:md|py|yaml|yml|json|sql))")


def _help_texts() -> str:
    texts = [cli.build_parser(only=None).format_help()]
    for name in cli.SUBCOMMANDS:
        (sub,) = cli.build_parser(only=name)._subparsers._group_actions  # type: ignore[union-attr]
        texts.append(sub.choices[name].format_help())
    return "\n".join(texts)


@pytest.mark.parametrize("path", TEXTS + SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_reference_to_files_outside_the_repository(path: Path) -> None:
    hits = [f"{path.name}:{n}: {line.strip()}" for n, line in
            enumerate(path.read_text().splitlines(), 1) if OUTSIDE.search(line)]
    assert hits == [], "point these at docs/contract.md (or a file in the repository)"


def test_help_texts_refer_only_to_the_repository() -> None:
    text = _help_texts()
    assert not OUTSIDE.search(text)
    for ref in REPO_PATH.findall(text):
        assert (ROOT / ref).exists(), f"--help names {ref}, which is not in the repository"


def test_paths_named_in_services_exist() -> None:
    """A file in services/ names documents and code of the repository only, and only ones
    that exist (docs/contract.md for the contract); NNNN stands for a migration number."""
    missing = [f"{path.relative_to(ROOT)}: {ref}" for path in SERVICES
               for ref in REPO_PATH.findall(path.read_text())
               if "NNNN" not in ref and not (ROOT / ref).exists()]
    assert missing == []


@pytest.mark.parametrize("path", TEXTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_links_and_paths_in_the_docs_exist(path: Path) -> None:
    text = path.read_text()
    missing = []
    for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text):
        if "://" not in target and not (path.parent / target).exists():
            missing.append(target)
    for ref in REPO_PATH.findall(text):
        if not (ROOT / ref).exists() and not (path.parent / ref).exists():
            missing.append(ref)
    assert missing == []


def test_the_contract_covers_every_event_and_field() -> None:
    text = CONTRACT.read_text()
    for name, model in {**INPUT_TYPES, **OUTPUT_TYPES}.items():
        assert f"`{name}`" in text or f"**`{name}`**" in text, f"event {name} is not described"
        for field in model.model_fields:
            if field in ("type", "prev", "hash"):
                continue
            assert f"`{field}`" in text or field in text, f"{name}.{field} is not described"
    for heading in ("Breach hysteresis", "Emission in event-time windows", "Mark-to-market P&L",
                    "Funding of perpetuals", "P&L explain", "Historical VaR",
                    "Hash-chained outputs", "Volatility regimes", "hedge intent"):
        assert heading in text


def test_the_contract_states_the_event_registry() -> None:
    """docs/contract.md's table of topics, tables and files is the registry's (make schemas)."""
    from greekstream.tools import schemas_gen

    text = CONTRACT.read_text()
    assert schemas_gen.registry_table() in text
    assert schemas_gen.contract_text(text) == text


def test_the_overview_help_says_what_each_command_does(capsys: pytest.CaptureFixture[str]
                                                        ) -> None:
    """`greekstream --help` lists every command with the first line of its own HELP (read
    from its module's source, so the overview stays fast), not a pointer to its help."""
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    text = " ".join(capsys.readouterr().out.split())  # argparse wraps the lines
    for name in cli.SUBCOMMANDS:
        first = cli._load(name).HELP.strip().splitlines()[0]  # type: ignore[attr-defined]
        assert f"{name} {' '.join(first.split())}" in text, name
    assert "(run `greekstream" not in text

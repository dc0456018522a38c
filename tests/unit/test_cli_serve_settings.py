"""`greekstream serve` with a settings file that is missing, a directory, not YAML or not
a mapping, or that holds a key twice, or a GREEKSTREAM_* variable that does not parse:
one error line with a hint, exit 2, before any store is opened. serve caught only a
ValidationError, so each came out as a ValueError / YAMLError / SettingsError traceback
(exit 1); a key written twice kept its last value and dropped the first without a word.
The settings file's errors are said in one place (settings._FileSource), for every
command."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli import run

CASES = ["missing file", "a directory", "not yaml", "not a mapping", "a key twice",
         "bad variable"]


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("command", [["serve", "--port", "0"], ["topics", "list"]])
def test_bad_settings_are_one_error_line_and_exit_2(
        case: str, command: list[str], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("GREEKSTREAM_SETTINGS_FILE", "GREEKSTREAM_HTTP", "GREEKSTREAM_KAFKA"):
        monkeypatch.delenv(name, raising=False)
    path = tmp_path / "settings.yaml"
    expected = str(path)
    if case == "a directory":
        path.mkdir()
    elif case == "not yaml":
        path.write_text("http: [\n", encoding="utf-8")
    elif case == "not a mapping":
        path.write_text("- a list\n", encoding="utf-8")
        expected = "must hold a mapping"
    elif case == "a key twice":  # PyYAML kept the second, dropping the first silently
        # (the second is not a level: before, serve failed on it instead of running)
        path.write_text("log_level: DEBUG\nlog_level: LOUD\n", encoding="utf-8")
        expected = "'log_level' appears twice"
    if case == "bad variable":
        variable = "GREEKSTREAM_HTTP" if command[0] == "serve" else "GREEKSTREAM_KAFKA"
        monkeypatch.setenv(variable, "not json")
        expected = variable[len("GREEKSTREAM_"):].lower()
    else:
        monkeypatch.setenv("GREEKSTREAM_SETTINGS_FILE", str(path))
    dsn = [] if command[0] != "serve" else ["--dsn", f"chdb://{tmp_path / 'never'}"]
    try:
        code, _, err = run(*command, *dsn)
    except Exception as exc:  # the defect: it came out as a traceback
        pytest.fail(f"greekstream {command[0]}: {type(exc).__name__} came out: {exc}")
    assert code == 2, err
    assert err.startswith(f"greekstream {command[0]}: error: bad "), err
    assert expected in err, err
    assert not (tmp_path / "never").exists()  # no store was opened

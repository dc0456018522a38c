"""The progress line: a bar, rate and ETA on a terminal; plain lines otherwise."""

from __future__ import annotations

import io

from greekstream.runtime.progress import Progress, clock


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_terminal_gets_a_bar_the_rate_and_an_eta() -> None:
    progress = Progress("replay", total=1000, stream=Terminal())
    progress.count = 250
    line = progress.line(elapsed=5.0)
    assert line.startswith("replay: [#######.......................] 250/1,000 events")
    assert " 25.0% (50/s, 5.0s, ETA 15.0s)" in line
    assert "ETA" not in progress.line(elapsed=5.0, final=True)


def test_a_pipe_gets_no_bar_and_no_total_means_no_eta() -> None:
    piped = Progress("replay", total=1000, stream=io.StringIO())
    piped.count = 500
    assert piped.line(10.0) == "replay: 500/1,000 events  50.0% (50/s, 10.0s, ETA 10.0s)"
    open_ended = Progress("replay", stream=io.StringIO())
    open_ended.count = 42
    assert open_ended.line(2.0) == "replay: 42 events (21/s, 2.0s)"


def test_lines_are_drawn_while_advancing_and_at_the_end() -> None:
    stream = Terminal()
    progress = Progress("replay", total=10_000, stream=stream, every_s=0.0)
    for _ in range(10):
        progress.advance(1000)  # steps that are not multiples of 1024 still draw
    progress.count = 200_000  # done() reports big runs
    progress.done()
    text = stream.getvalue()
    assert text.count("\r") >= 5 and text.endswith("\n")


def test_a_live_inputs_refresh_draws_on_a_pipe_only_when_the_count_moved() -> None:
    piped = io.StringIO()
    progress = Progress("produce", stream=piped)
    progress.every_s = 0.0
    progress.advance(3)  # a few records: below the 1k units advance() looks at the clock
    progress.refresh()
    progress.refresh()  # idle: nothing new to say
    assert piped.getvalue().startswith("produce: 3 events (") and piped.getvalue().count(
        "\n") == 1
    terminal = Terminal()
    progress = Progress("produce", stream=terminal, every_s=0.0)
    progress.refresh()
    progress.refresh()  # the elapsed time moves on a terminal
    assert terminal.getvalue().count("\r") == 2


def test_clock_reads_like_a_person_would_write_it() -> None:
    assert [clock(4.25), clock(187), clock(3725)] == ["4.2s", "3m07s", "1h02m"]

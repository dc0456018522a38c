"""`greekstream topics create` over topics that exist with another partition count (on a
real Tansu broker): it printed the count asked for, beside "exists", as if the topics had
it, and said nothing else; the topics keep theirs (create never alters a topic, and
adding partitions in place is not supported: docs/deploy.md, 3. Scaling). Each line now
gives the topic's own count, and a warning on stderr says that they differ."""

from __future__ import annotations

import itertools
import re

import pytest
from kafka_helpers import cli

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]
_names = itertools.count()


def _counts(stdout: str) -> dict[str, tuple[int, str]]:
    rows = {}
    for line in stdout.splitlines():
        m = re.match(r"(\S+)\s+(\d+) partitions\s+\S*\s+(.*)$", line)
        assert m, line
        rows[m.group(1)] = (int(m.group(2)), m.group(3).strip())
    return rows


def test_existing_topics_are_listed_with_their_own_partition_count(
        kafka_bootstrap: str) -> None:
    prefix = f"topics-existing-{next(_names)}"
    first = cli("topics", "create", "--bootstrap", kafka_bootstrap, "--prefix", prefix,
                "--partitions", "2", "--market-partitions", "1")
    assert first.returncode == 0, first.stderr
    created = _counts(first.stdout)
    assert created[f"{prefix}.trades"] == (2, "created")
    assert "warning" not in first.stderr

    again = cli("topics", "create", "--bootstrap", kafka_bootstrap, "--prefix", prefix,
                "--partitions", "4", "--market-partitions", "1")
    assert again.returncode == 0, again.stderr
    rows = _counts(again.stdout)
    assert rows[f"{prefix}.trades"] == (2, "exists (asked for 4: not changed)")
    assert rows[f"{prefix}.quotes"] == (1, "exists")
    assert "warning:" in again.stderr and "never alters a topic" in again.stderr

    same = cli("topics", "create", "--bootstrap", kafka_bootstrap, "--prefix", prefix,
               "--partitions", "2", "--market-partitions", "1")
    assert same.returncode == 0 and "warning" not in same.stderr, same.stderr
    assert _counts(same.stdout)[f"{prefix}.trades"] == (2, "exists")

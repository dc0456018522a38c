"""Runs of the engine outside Kafka, and the inputs every run reads.

File and history replay (:mod:`.replay`), the P&L explain over a window of records
(:mod:`.explain`), the scenario and returns files an engine is configured from
(:mod:`.scenario_files`, :mod:`.returns_file`), the progress line long runs print
(:mod:`.progress`), the hypothetical trades a what-if takes, from a file or a request
(:mod:`.whatif_trade`), and the files only their owner may read, a signing key or a
token (:mod:`.private_file`). Imports only the core (and ``errors``/``settings``); kafka,
history, api and commands build on it.
"""

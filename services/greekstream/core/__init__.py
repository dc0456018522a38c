"""The pure risk core: events, Greeks kernels, book state, limits, hedging, the engine.

Nothing in this package imports Kafka, ClickHouse, asyncio, os or time
(tests/unit/test_contract.py checks it). Its only clock is event time.
"""

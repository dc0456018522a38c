"""The Kafka runtime: topics, the gateway producer, the exactly-once processor loop.

Nothing here computes risk: records go into :class:`greekstream.core.engine.Engine`
and its outputs come back out (see docs/streaming.md).
"""

"""greekstream: an event-sourced streaming risk engine for crypto-derivatives desks."""

__version__ = "0.1.0"

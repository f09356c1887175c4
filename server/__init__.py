"""Switchboard server: routing core, runtime, transport and storage."""

__version__ = "0.1.0"

"""Prometheus metrics, one registry per server (tests run several in one process)."""

from __future__ import annotations

from collections import Counter as Tally
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector


class FrameCounts(Collector):
    """Client frames received, by type: a plain tally, read at scrape time.

    Counted once per frame on the relay's hot path, where a prometheus
    ``Counter`` child takes a lock on every ``inc()`` (4 % of the loop's
    samples in the relay benchmark); the loop is one thread, so a dict
    increment is enough.
    """

    def __init__(self) -> None:
        self.by_type: Tally[str] = Tally()

    def collect(self) -> Iterator[CounterMetricFamily]:
        family = CounterMetricFamily(
            "switchboard_frames_received", "Client frames by type", labels=["type"]
        )
        for kind, n in sorted(self.by_type.items()):
            family.add_metric([kind], n)
        yield family


class Metrics:
    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        self.connections = Gauge(
            "switchboard_connections", "Open authenticated connections", ["role"], registry=r
        )
        self.frames = FrameCounts()
        r.register(self.frames)
        self.errors = Counter(
            "switchboard_errors_total", "Error frames sent, by code", ["code"], registry=r
        )
        self.offers = Counter("switchboard_offers_total", "Offers made", registry=r)
        self.offer_latency = Histogram(
            "switchboard_offer_latency_seconds",
            "From an interaction's creation to an offer",
            buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30, 120),
            registry=r,
        )
        self.queue_waiting = Gauge(
            "switchboard_queue_waiting", "Interactions waiting", ["queue"], registry=r
        )
        self.queue_oldest_wait = Gauge(
            "switchboard_queue_oldest_wait_seconds", "Oldest wait", ["queue"], registry=r
        )
        self.agents = Gauge(
            "switchboard_agents", "Agents by status and state", ["status", "state"], registry=r
        )
        self.batches = Gauge(
            "switchboard_storage_batches", "Transactions committed by the writer", registry=r
        )
        self.rows = Gauge("switchboard_storage_rows", "Rows written by the writer", registry=r)

    def render(self) -> bytes:
        return generate_latest(self.registry)

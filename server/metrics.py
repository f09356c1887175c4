"""Prometheus metrics, one registry per server (tests run several in one process)."""

from __future__ import annotations

from bisect import bisect_left
from collections import Counter as Tally
from collections.abc import Iterator, Sequence

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString


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


class OfferStats(Collector):
    """Offers made and their latency (creation -> offer), as a prometheus
    ``Counter`` and ``Histogram`` would show them, kept as plain numbers.

    Observed once per offer on the routing path, where the two prometheus
    objects took three locked increments and a Python bisect (the largest
    cost after the socket writes in a profile at 2,000 offers/s). The loop is
    one thread, so no lock is needed; the families are built at scrape time.
    """

    def __init__(self, buckets: Sequence[float]) -> None:
        self.bounds = tuple(sorted(float(b) for b in buckets))
        #: Observations per bucket (not cumulative); the last is above every bound.
        self.counts = [0] * (len(self.bounds) + 1)
        self.sum = 0.0

    def observe(self, seconds: float) -> None:
        # A value equal to a bound belongs to that bucket (le = "less or equal").
        self.counts[bisect_left(self.bounds, seconds)] += 1
        self.sum += seconds

    def collect(self) -> Iterator[CounterMetricFamily | HistogramMetricFamily]:
        total = sum(self.counts)
        offers = CounterMetricFamily("switchboard_offers", "Offers made")
        offers.add_metric([], total)
        yield offers
        cumulative, running = [], 0
        for bound, n in zip(self.bounds, self.counts, strict=False):
            running += n
            cumulative.append((floatToGoString(bound), running))
        cumulative.append(("+Inf", total))
        yield HistogramMetricFamily(
            "switchboard_offer_latency_seconds",
            "From an interaction's creation to an offer",
            buckets=cumulative,
            sum_value=self.sum,
        )


#: Offer latency buckets: the targets are 2 ms and 10 ms under load.
OFFER_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30, 120)


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
        self.offers = OfferStats(OFFER_BUCKETS)
        r.register(self.offers)
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

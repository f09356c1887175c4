"""The hot-path collectors render what prometheus_client's own types would."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from server.metrics import OFFER_BUCKETS, OfferStats

# Zero, every bound itself (a value equal to a bound is in that bucket),
# values between bounds and one above the last.
SAMPLES = [0.0, 0.0003, *OFFER_BUCKETS, 0.0015, 0.0015, 0.07, 3.0, 500.0]


def _lines(registry: CollectorRegistry) -> list[str]:
    text = generate_latest(registry).decode()
    # _created samples carry the wall clock of the object's creation.
    return sorted(line for line in text.splitlines() if "_created" not in line)


def test_offer_stats_render_as_counter_and_histogram() -> None:
    ours = CollectorRegistry()
    stats = OfferStats(OFFER_BUCKETS)
    ours.register(stats)
    theirs = CollectorRegistry()
    count = Counter("switchboard_offers_total", "Offers made", registry=theirs)
    hist = Histogram(
        "switchboard_offer_latency_seconds",
        "From an interaction's creation to an offer",
        buckets=OFFER_BUCKETS,
        registry=theirs,
    )
    assert _lines(ours) == _lines(theirs)  # both empty
    for value in SAMPLES:
        stats.observe(value)
        count.inc()
        hist.observe(value)
    assert _lines(ours) == _lines(theirs)
    assert 'switchboard_offer_latency_seconds_bucket{le="0.002"} 7.0' in _lines(ours)
    assert "switchboard_offers_total 19.0" in _lines(ours)

"""The per-request counters expose exactly what prometheus_client's own metrics would."""

from __future__ import annotations

import re

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from cairn.server.request_metrics import (
    CounterFamily,
    GaugeFamily,
    HistogramFamily,
    RequestCounters,
)

BUCKETS = (0.001, 0.01, 0.1, 1)


def _exposed(registry: CollectorRegistry) -> str:
    # Creation times differ by the microseconds between the two; everything else must not.
    return re.sub(r"(_created(?:\{[^}]*\})?) \S+", r"\1 T", generate_latest(registry).decode())


def test_counters_histograms_and_gauges_match_the_library() -> None:
    library = CollectorRegistry()
    requests = Counter("r", "requests", ["method", "status"], registry=library)
    written = Counter("w", "objects written", registry=library)
    duration = Histogram("d", "duration", ["method"], buckets=BUCKETS, registry=library)
    in_flight = Gauge("g", "in flight", registry=library)

    ours = CollectorRegistry()
    counters = RequestCounters()
    our_requests = CounterFamily("r", "requests", ["method", "status"])
    our_written = CounterFamily("w", "objects written")
    our_duration = HistogramFamily("d", "duration", ["method"], buckets=BUCKETS)
    our_in_flight = GaugeFamily("g", "in flight")
    for family in (our_requests, our_written, our_duration, our_in_flight):
        counters.add(family)
    ours.register(counters)

    assert _exposed(ours) == _exposed(library)  # nothing counted yet
    for method, status in (("PUT", "200"), ("PUT", "200"), ("GET", "404")):
        requests.labels(method, status).inc()
        our_requests.labels(method, status).inc()
    written.inc(3)
    our_written.inc(3)
    # On a bound, just above one, beyond the last and at zero: each lands where "le" says.
    for seconds in (0.001, 0.0011, 5.0, 0.0, 0.05):
        duration.labels("PUT").observe(seconds)
        our_duration.labels("PUT").observe(seconds)
    in_flight.inc()
    in_flight.inc()
    in_flight.dec()
    our_in_flight.inc()
    our_in_flight.inc()
    our_in_flight.dec()
    assert _exposed(ours) == _exposed(library)
    assert 'd_bucket{le="0.001",method="PUT"} 2.0' in _exposed(ours)

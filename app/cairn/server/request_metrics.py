"""Per-request counters as plain numbers, turned into Prometheus samples only when scraped.

prometheus_client's Counter, Gauge and Histogram take a lock for every update and check on
each call whether they may be updated: a signed PUT updated eight of them. Every update here
happens on the event loop's thread, as does the scrape that reads them, so plain numbers are
exact; `RequestCounters.collect` writes the same samples (`_total`, `_created`, `_bucket`,
`_count`, `_sum`) the library's metrics of the same names and types would.
"""

from __future__ import annotations

import bisect
import math
import time
from collections.abc import Callable, Iterator, Sequence
from typing import cast

from prometheus_client import metrics as library
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

_bound_text = cast(Callable[[float], str], floatToGoString)  # "+Inf", "0.001", "10.0"


class CounterSeries:
    __slots__ = ("created", "value")

    def __init__(self) -> None:
        self.value = 0.0
        self.created = time.time()

    def inc(self, amount: float = 1) -> None:
        self.value += amount


class HistogramSeries:
    __slots__ = ("bounds", "counts", "created", "sum")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * len(bounds)
        self.sum = 0.0
        self.created = time.time()

    def observe(self, value: float) -> None:
        self.sum += value
        self.counts[bisect.bisect_left(self.bounds, value)] += 1


class _Family:
    def __init__(self, name: str, documentation: str, kind: str, labelnames: Sequence[str]):
        self.name = name
        self.documentation = documentation
        self.kind = kind
        self.labelnames = tuple(labelnames)


class CounterFamily(_Family):
    def __init__(self, name: str, documentation: str, labelnames: Sequence[str] = ()) -> None:
        super().__init__(name, documentation, "counter", labelnames)
        self.series: dict[tuple[str, ...], CounterSeries] = {}
        if not self.labelnames:  # a counter without labels has its one series from the start
            self._only = self.series[()] = CounterSeries()

    def labels(self, *values: str) -> CounterSeries:
        found = self.series.get(values)
        if found is None:
            if len(values) != len(self.labelnames):
                raise ValueError(f"{self.name} takes the labels {self.labelnames}")
            found = self.series[values] = CounterSeries()
        return found

    def inc(self, amount: float = 1) -> None:
        """For a counter without labels."""
        self._only.value += amount

    def metric(self, created: bool) -> Metric:
        metric = Metric(self.name, self.documentation, "counter")
        for values, series in list(self.series.items()):
            labels = dict(zip(self.labelnames, values, strict=True))
            metric.add_sample(self.name + "_total", labels, series.value)
            if created:
                metric.add_sample(self.name + "_created", labels, series.created)
        return metric


class HistogramFamily(_Family):
    def __init__(
        self, name: str, documentation: str, labelnames: Sequence[str], buckets: Sequence[float]
    ) -> None:
        super().__init__(name, documentation, "histogram", labelnames)
        bounds = [float(b) for b in buckets]
        if bounds[-1] != math.inf:
            bounds.append(math.inf)
        self.bounds = tuple(bounds)
        self.bound_texts = tuple(_bound_text(b) for b in bounds)
        self.series: dict[tuple[str, ...], HistogramSeries] = {}

    def labels(self, *values: str) -> HistogramSeries:
        found = self.series.get(values)
        if found is None:
            if len(values) != len(self.labelnames):
                raise ValueError(f"{self.name} takes the labels {self.labelnames}")
            found = self.series[values] = HistogramSeries(self.bounds)
        return found

    def metric(self, created: bool) -> Metric:
        metric = Metric(self.name, self.documentation, "histogram")
        for values, series in list(self.series.items()):
            labels = dict(zip(self.labelnames, values, strict=True))
            total = 0
            for bound, count in zip(self.bound_texts, series.counts, strict=True):
                total += count
                metric.add_sample(self.name + "_bucket", {**labels, "le": bound}, total)
            metric.add_sample(self.name + "_count", labels, total)
            metric.add_sample(self.name + "_sum", labels, series.sum)
            if created:
                metric.add_sample(self.name + "_created", labels, series.created)
        return metric


class GaugeFamily(_Family):
    def __init__(self, name: str, documentation: str) -> None:
        super().__init__(name, documentation, "gauge", ())
        self.value = 0.0

    def inc(self) -> None:
        self.value += 1

    def dec(self) -> None:
        self.value -= 1

    def metric(self, created: bool) -> Metric:
        metric = Metric(self.name, self.documentation, "gauge")
        metric.add_sample(self.name, {}, self.value)
        return metric


class RequestCounters(Collector):
    """The families below, in the order they were added, as one registry entry."""

    def __init__(self) -> None:
        self.families: list[CounterFamily | HistogramFamily | GaugeFamily] = []

    def add(self, family: CounterFamily | HistogramFamily | GaugeFamily) -> None:
        self.families.append(family)

    def collect(self) -> Iterator[Metric]:
        # As the library's own metrics do (PROMETHEUS_DISABLE_CREATED_SERIES, or its switch).
        created = bool(getattr(library, "_use_created", True))
        for family in self.families:
            yield family.metric(created)

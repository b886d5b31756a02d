"""Per model and version request metrics, rendered in Prometheus' text format (``GET /metrics``).

Updated only from the event loop, so plain dicts need no locks. Requests for names that are not
served are counted without their name, so a scanner cannot grow the label set without bound.

Example:
    >>> m = ServingMetrics()
    >>> m.observe("Iris", "3", 200, None, 0.002)
    >>> print(m.render([]).splitlines()[2])
    mltrack_requests_total{model="Iris",version="3",status="200"} 1
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable
from dataclasses import dataclass, field

__all__ = ["BUCKETS", "ServingMetrics", "TrafficShare"]

BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


@dataclass(frozen=True, slots=True)
class TrafficShare:
    """One served version's share of its model's traffic (a gauge in ``/metrics``)."""

    model: str
    version: str
    role: str  # "primary" or "canary"
    weight: float


@dataclass(slots=True)
class _Histogram:
    counts: list[int] = field(default_factory=lambda: [0] * (len(BUCKETS) + 1))
    total: float = 0.0

    def observe(self, seconds: float) -> None:
        self.counts[bisect_left(BUCKETS, seconds)] += 1
        self.total += seconds


class ServingMetrics:
    """Counters and latency histograms keyed by (model, version)."""

    def __init__(self) -> None:
        self.requests: dict[tuple[str, str, int], int] = {}
        self.errors: dict[tuple[str, str, str], int] = {}
        self.latency: dict[tuple[str, str], _Histogram] = {}
        self.unrouted = 0

    def observe(self, model: str, version: str, status: int, error_code: str | None, seconds: float) -> None:
        """Count one answered request to a served version."""
        key = (model, version, status)
        self.requests[key] = self.requests.get(key, 0) + 1
        if error_code is not None:
            err = (model, version, error_code)
            self.errors[err] = self.errors.get(err, 0) + 1
        histogram = self.latency.get((model, version))
        if histogram is None:
            histogram = self.latency[(model, version)] = _Histogram()
        histogram.observe(seconds)

    def observe_unrouted(self) -> None:
        """Count a request for a model or version this server does not serve."""
        self.unrouted += 1

    def render(self, shares: Iterable[TrafficShare]) -> str:
        """The Prometheus text exposition (format 0.0.4)."""
        out: list[str] = []
        _header(out, "mltrack_requests_total", "counter", "Scoring requests answered, by model, version and status.")
        for (model, version, status), count in sorted(self.requests.items()):
            out.append(f'mltrack_requests_total{{{_labels(model, version)},status="{status}"}} {count}')
        _header(out, "mltrack_request_errors_total", "counter", "Scoring requests answered with an error.")
        for (model, version, code), count in sorted(self.errors.items()):
            out.append(f'mltrack_request_errors_total{{{_labels(model, version)},error_code="{code}"}} {count}')
        name = "mltrack_request_duration_seconds"
        _header(out, name, "histogram", "Time to answer a scoring request, from routing to the encoded answer.")
        for (model, version), histogram in sorted(self.latency.items()):
            labels = _labels(model, version)
            cumulative = 0
            for bound, count in zip((*BUCKETS, float("inf")), histogram.counts, strict=True):
                cumulative += count
                le = "+Inf" if bound == float("inf") else repr(bound)
                out.append(f'{name}_bucket{{{labels},le="{le}"}} {cumulative}')
            out.append(f"{name}_sum{{{labels}}} {histogram.total!r}")
            out.append(f"{name}_count{{{labels}}} {cumulative}")
        _header(out, "mltrack_traffic_weight", "gauge", "Share of a model's traffic each served version receives.")
        for share in shares:
            labels = f'{_labels(share.model, share.version)},role="{share.role}"'
            out.append(f"mltrack_traffic_weight{{{labels}}} {share.weight!r}")
        _header(out, "mltrack_unrouted_requests_total", "counter", "Requests for models or versions not served.")
        out.append(f"mltrack_unrouted_requests_total {self.unrouted}")
        return "\n".join(out) + "\n"


def _header(out: list[str], name: str, kind: str, text: str) -> None:
    out.append(f"# HELP {name} {text}")
    out.append(f"# TYPE {name} {kind}")


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(model: str, version: str) -> str:
    return f'model="{_escape(model)}",version="{_escape(version)}"'

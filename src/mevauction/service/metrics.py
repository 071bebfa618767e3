"""Prometheus text exposition (format 0.0.4) of the service's counters.

Counters and gauges are plain numbers; latencies are histograms with fixed buckets
(seconds). Everything is updated on the event loop thread, so no locks.
"""

from __future__ import annotations

from collections import defaultdict

LATENCY_BUCKETS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class Histogram:
    def __init__(self) -> None:
        self.counts = [0] * len(LATENCY_BUCKETS)
        self.total = 0
        self.sum = 0.0

    def observe(self, seconds: float) -> None:
        self.total += 1
        self.sum += seconds
        for i, bound in enumerate(LATENCY_BUCKETS):
            if seconds <= bound:
                self.counts[i] += 1
                break


class Metrics:
    def __init__(self) -> None:
        self.counters: dict[tuple[str, tuple], float] = defaultdict(float)
        self.gauges: dict[tuple[str, tuple], float] = {}
        self.histograms: dict[tuple[str, tuple], Histogram] = {}
        self.help: dict[str, str] = {}

    def inc(self, name: str, amount: float = 1, help: str = "", **labels: str) -> None:
        self.help.setdefault(name, help)
        self.counters[(name, tuple(sorted(labels.items())))] += amount

    def set(self, name: str, value: float, help: str = "", **labels: str) -> None:
        self.help.setdefault(name, help)
        self.gauges[(name, tuple(sorted(labels.items())))] = value

    def observe(self, name: str, seconds: float, help: str = "", **labels: str) -> None:
        self.help.setdefault(name, help)
        key = (name, tuple(sorted(labels.items())))
        if key not in self.histograms:
            self.histograms[key] = Histogram()
        self.histograms[key].observe(seconds)

    def render(self) -> str:
        lines: list[str] = []
        seen: set[str] = set()

        def header(name: str, kind: str) -> None:
            if name not in seen:
                seen.add(name)
                lines.append(f"# HELP {name} {self.help.get(name) or name}")
                lines.append(f"# TYPE {name} {kind}")

        for (name, labels), value in sorted(self.counters.items()):
            header(name, "counter")
            lines.append(f"{name}{_labels(labels)} {_num(value)}")
        for (name, labels), value in sorted(self.gauges.items()):
            header(name, "gauge")
            lines.append(f"{name}{_labels(labels)} {_num(value)}")
        for (name, labels), hist in sorted(self.histograms.items(), key=lambda kv: kv[0]):
            header(name, "histogram")
            running = 0
            for bound, count in zip(LATENCY_BUCKETS, hist.counts):
                running += count
                lines.append(f"{name}_bucket{_labels((*labels, ('le', repr(bound))))} {running}")
            lines.append(f"{name}_bucket{_labels((*labels, ('le', '+Inf')))} {hist.total}")
            lines.append(f"{name}_sum{_labels(labels)} {hist.sum!r}")
            lines.append(f"{name}_count{_labels(labels)} {hist.total}")
        return "\n".join(lines) + "\n"


def _labels(labels: tuple) -> str:
    if not labels:
        return ""
    inner = ",".join(f'{k}="{_escape(str(v))}"' for k, v in labels)
    return "{" + inner + "}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(value)

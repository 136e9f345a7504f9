"""The metrics registry behind /metrics renders the Prometheus text format."""

from __future__ import annotations

import pytest

from mizzen.controlplane.metrics import Family, Registry, Sample


def test_counter_gauge_histogram_and_collector_render() -> None:
    """Counters, gauges, histograms and collector families render as Prometheus text with escaped labels."""
    reg = Registry()
    reg.counter("pushes_total", "Pushes").inc(2, type="cds")
    reg.gauge("proxies", "Connected proxies").set(3)
    hist = reg.histogram("push_seconds", "Push time", buckets=(0.1, 1.0))
    hist.observe(0.05)
    hist.observe(0.5)
    reg.register_collector(lambda: [Family("up", "gauge", "Up", [Sample("up", (("who", 'a"b'),), 1)])])
    text = reg.render()
    assert '# TYPE pushes_total counter\npushes_total{type="cds"} 2\n' in text
    assert "proxies 3\n" in text
    assert 'push_seconds_bucket{le="0.1"} 1\npush_seconds_bucket{le="1"} 2\npush_seconds_bucket{le="+Inf"} 2\n' in text
    assert "push_seconds_sum 0.55\npush_seconds_count 2\n" in text
    assert 'up{who="a\\"b"} 1\n' in text


def test_duplicate_metric_names_are_refused() -> None:
    """Registering the same metric name twice is an error, not a silent overwrite."""
    reg = Registry()
    reg.counter("x_total", "x")
    with pytest.raises(ValueError, match="x_total"):
        reg.gauge("x_total", "again")

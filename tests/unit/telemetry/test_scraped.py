"""Deltas between two scrapes of one proxy: growth only, Envoy restarts, grace after a disconnect."""

from __future__ import annotations

from scrape_fixtures import client, histogram, key, reading

from mizzen.meshstats import Reading
from mizzen.telemetry.scraped import Baselines, delta, restarted

OK = key(**client())
FAIL = key(**client("503"))
DUR = key("istio_request_duration_milliseconds", **client())


def test_first_reading_is_all_delta() -> None:
    """The first scrape of a proxy counts everything its Envoy did before it."""
    first = reading({OK: 3}, {DUR: histogram(2, 7, 30)})
    change = delta(None, first)
    assert change.counters == {OK: 3}
    assert change.histograms[DUR].total == 3


def test_delta_is_the_growth_since_the_previous_reading() -> None:
    """Counters and histogram buckets give what grew; unchanged series give nothing."""
    before = reading({OK: 3, FAIL: 1}, {DUR: histogram(2, 7, 30)})
    after = reading({OK: 5, FAIL: 1}, {DUR: histogram(2, 7, 30, 8, 400)})
    change = delta(before, after)
    assert change.counters == {OK: 2}
    hist = change.histograms[DUR]
    assert (hist.total, hist.sum) == (2, 408)
    assert hist.counts == histogram(8, 400).counts


def test_a_counter_going_down_means_envoy_restarted_and_the_new_value_is_the_delta() -> None:
    """After a restart every series of the new Envoy counts from zero, even one that grew past its old value."""
    before = reading({OK: 10, FAIL: 1})
    after = reading({OK: 4, FAIL: 2})
    assert restarted(before, after)
    assert delta(before, after).counters == {OK: 4, FAIL: 2}


def test_a_vanished_series_means_a_restart_unless_the_reading_was_cut_at_its_limit() -> None:
    """A series gone from a complete reading is a new Envoy; from a reading over its limit it is not."""
    before = reading({OK: 10, FAIL: 1})
    assert restarted(before, reading({OK: 12}))
    cut = Reading({OK: 12}, {}, dropped=1)
    assert not restarted(before, cut)
    assert delta(before, cut).counters == {OK: 2}


def test_a_histogram_bucket_going_down_means_a_restart() -> None:
    """Histograms alone can show the restart too."""
    before = reading({}, {DUR: histogram(2, 7, 30)})
    after = reading({}, {DUR: histogram(2, 400, 400)})
    assert restarted(before, after)
    assert delta(before, after).histograms[DUR].total == 3


def test_baselines_keep_the_last_reading_per_proxy() -> None:
    """Each proxy's delta is against its own last reading."""
    b = Baselines()
    assert b.update("a.default", reading({OK: 3})).counters == {OK: 3}
    assert b.update("b.default", reading({OK: 1})).counters == {OK: 1}
    assert b.update("a.default", reading({OK: 4})).counters == {OK: 1}
    assert b.series() == 2


def test_a_disconnected_proxy_keeps_its_reading_for_the_grace_period_then_loses_it() -> None:
    """Within the grace a reconnect adds only what is new; after it the reading is dropped (memory bounded)."""
    b = Baselines(grace_s=30)
    b.update("a.default", reading({OK: 3}))
    assert b.sweep(set(), now=100) == []
    assert b.sweep(set(), now=125) == [] and "a.default" in b
    assert b.update("a.default", reading({OK: 5})).counters == {OK: 2}  # came back in time
    assert b.sweep({"a.default"}, now=126) == []
    assert b.sweep(set(), now=200) == []  # missing again: a new grace period starts
    assert b.sweep(set(), now=231) == ["a.default"]
    assert len(b) == 0

"""meshstats.read parses each histogram's tags once per read: the same series whatever the tag order or escapes."""

from __future__ import annotations

import math

from mizzen.meshstats import read

NAME = "envoy_istio_request_duration_milliseconds"


def _histogram(tags: str, le_first: bool = False) -> str:
    def bucket(le: str, n: int) -> str:
        return f'{NAME}_bucket{{le="{le}",{tags}}} {n}' if le_first else f'{NAME}_bucket{{{tags},le="{le}"}} {n}'

    lines = [bucket("1", 1), bucket("10", 2), bucket("+Inf", 4)]
    return "\n".join([*lines, f"{NAME}_sum{{{tags}}} 30", f"{NAME}_count{{{tags}}} 4"]) + "\n"


def test_le_first_or_last_gives_the_same_histogram() -> None:
    """Envoy prints le last; a text with le first is read the same (the slow path)."""
    tags = 'reporter="source",response_code="200"'
    last, first = read(_histogram(tags)), read(_histogram(tags, le_first=True))
    assert last.histograms == first.histograms
    (hist,) = last.histograms.values()
    assert hist.bounds == (1.0, 10.0, math.inf) and hist.counts == [1, 2, 4] and hist.total == 4


def test_escaped_values_and_lookalike_le_text_stay_in_their_tag() -> None:
    """A value holding an escaped quote and the text ,le=" is one tag value, not a bucket bound."""
    tags = r'reporter="source",mz_authority="a\",le=\"5",response_code="200"'
    ((key, hist),) = read(_histogram(tags)).histograms.items()
    assert key.authority == 'a",le="5'
    assert hist.counts == [1, 2, 4]


def test_two_series_of_one_read_do_not_share_tags() -> None:
    """The per-read tag cache keys by the whole tag text: different series stay apart."""
    text = _histogram('reporter="source",response_code="200"') + _histogram('reporter="source",response_code="503"')
    codes = sorted(k.label_map()["response_code"] for k in read(text).histograms)
    assert codes == ["200", "503"]

"""reviews: versions, stars from ratings, header propagation and the per-version ratings timeout."""

from __future__ import annotations

import json
import time
import urllib.request
from typing import Any

import pytest

from mizzen.samples.bookinfo import ratings, reviews
from mizzen.samples.bookinfo._http import json_response
from mizzen.samples.bookinfo.reviews import ReviewsConfig

from .conftest import Recorder, serving, wrap_recording


def _config(version: str, ratings_port: int, **env: str) -> ReviewsConfig:
    environ = {
        "RATINGS_HOSTNAME": "127.0.0.1",
        "RATINGS_SERVICE_PORT": str(ratings_port),
        "MIZZEN_WORKLOAD": f"reviews-{version}",
        **env,
    }
    return ReviewsConfig.from_env(environ, version)


def _reviews(port: int, headers: dict[str, str] | None = None) -> Any:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/reviews/0", headers=headers or {})
    with urllib.request.urlopen(request, timeout=15) as response:
        assert response.status == 200
        return json.loads(response.read())


@pytest.mark.parametrize(
    ("version", "enabled", "color", "timeout"),
    [("v1", False, "black", 10.0), ("v2", True, "black", 10.0), ("v3", True, "red", 2.5)],
)
def test_version_defaults_match_the_original_images(version: str, enabled: bool, color: str, timeout: float) -> None:
    """Each version gets the ENABLE_RATINGS/STAR_COLOR its original image bakes in, and its timeout."""
    config = ReviewsConfig.from_env({}, version)
    assert (config.ratings_enabled, config.star_color, config.ratings_timeout) == (enabled, color, timeout)


def test_environment_selects_version_and_overrides() -> None:
    """SERVICE_VERSION picks the version; STAR_COLOR/ENABLE_RATINGS/CLUSTER_NAME override its defaults."""
    config = ReviewsConfig.from_env(
        {"SERVICE_VERSION": "v2", "STAR_COLOR": "red", "CLUSTER_NAME": "c1", "HOSTNAME": "pod-a"}
    )
    assert (config.version, config.ratings_enabled, config.star_color) == ("v2", True, "red")
    assert (config.cluster_name, config.pod_name, config.ratings_timeout) == ("c1", "pod-a", 2.5)
    assert not ReviewsConfig.from_env({"ENABLE_RATINGS": "false"}, "v3").ratings_enabled


def test_v1_has_no_ratings_and_never_calls_ratings(recorder: Recorder) -> None:
    """v1's reviews carry no rating key and ratings receives no call."""
    with serving(recorder.app()) as ratings_port, serving(reviews.build_app(_config("v1", ratings_port))) as port:
        body = _reviews(port)
    assert body["id"] == "0" and body["podname"] == "reviews-v1" and body["clustername"] == "null"
    assert [r["reviewer"] for r in body["reviews"]] == ["Reviewer1", "Reviewer2"]
    assert all("rating" not in r for r in body["reviews"])
    assert recorder.requests == []


@pytest.mark.parametrize(("version", "color"), [("v2", "black"), ("v3", "red")])
def test_v2_v3_take_stars_from_ratings_in_their_color(version: str, color: str) -> None:
    """v2/v3 show the stars ratings returns (here POSTed 3 and 1) in black/red."""
    ratings_app = ratings.build_app()
    with serving(ratings_app) as ratings_port, serving(reviews.build_app(_config(version, ratings_port))) as port:
        urllib.request.urlopen(
            urllib.request.Request(
                f"http://127.0.0.1:{ratings_port}/ratings/0", data=b'{"Reviewer1": 3, "Reviewer2": 1}'
            ),
            timeout=5,
        )
        body = _reviews(port)
    assert [r["rating"] for r in body["reviews"]] == [{"stars": 3, "color": color}, {"stars": 1, "color": color}]


def test_ratings_failure_gives_error_ratings_and_still_200(recorder: Recorder) -> None:
    """A 500 from ratings makes every rating the 'currently unavailable' error; reviews answers 200."""
    recorder.respond = lambda _r: json_response({"error": "boom"}, 500)
    with serving(recorder.app()) as ratings_port, serving(reviews.build_app(_config("v2", ratings_port))) as port:
        body = _reviews(port)
    assert [r["rating"] for r in body["reviews"]] == [{"error": "Ratings service is currently unavailable"}] * 2


def test_ratings_unreachable_gives_error_ratings() -> None:
    """With nothing listening on the ratings port, reviews v3 still answers, with error ratings."""
    with serving(ratings.build_app()) as dead_port:
        pass  # the port is free again once the server closed
    with serving(reviews.build_app(_config("v3", dead_port))) as port:
        body = _reviews(port)
    assert all(r["rating"] == {"error": "Ratings service is currently unavailable"} for r in body["reviews"])


def test_forwards_the_propagation_headers_to_ratings(recorder: Recorder) -> None:
    """end-user, trace, cookie and user-agent headers reach ratings; unlisted headers do not."""
    recorder.respond = lambda _r: json_response({"id": 0, "ratings": {"Reviewer1": 5, "Reviewer2": 4}})
    sent = {
        "end-user": "jason",
        "x-request-id": "rid-1",
        "x-b3-traceid": "a" * 32,
        "x-b3-spanid": "b" * 16,
        "x-b3-sampled": "1",
        "traceparent": "00-" + "c" * 32 + "-" + "d" * 16 + "-01",
        "cookie": "session=abc",
        "user-agent": "tester/1",
        "x-not-propagated": "nope",
    }
    with (
        serving(wrap_recording(ratings.build_app(), recorder)) as ratings_port,
        serving(reviews.build_app(_config("v2", ratings_port))) as port,
    ):
        _reviews(port, sent)
    (call,) = recorder.requests
    for name, value in sent.items():
        if name == "x-not-propagated":
            assert name not in call.headers
        else:
            assert call.headers.get(name) == value, name


@pytest.mark.slow
def test_v3_gives_up_on_ratings_after_2_5_seconds(recorder: Recorder) -> None:
    """v3 waits 2.5 s for a slow ratings and then shows the ratings error."""
    recorder.delay = 4.0
    recorder.respond = lambda _r: json_response({"id": 0, "ratings": {"Reviewer1": 5, "Reviewer2": 4}})
    with serving(recorder.app()) as ratings_port, serving(reviews.build_app(_config("v3", ratings_port))) as port:
        started = time.monotonic()
        body = _reviews(port)
        elapsed = time.monotonic() - started
    assert 2.3 <= elapsed < 3.9
    assert body["reviews"][0]["rating"] == {"error": "Ratings service is currently unavailable"}


@pytest.mark.slow
def test_v2_waits_for_a_slow_ratings_within_10_seconds(recorder: Recorder) -> None:
    """v2 (10 s timeout) still shows black stars when ratings takes 3 s."""
    recorder.delay = 3.0
    recorder.respond = lambda _r: json_response({"id": 0, "ratings": {"Reviewer1": 5, "Reviewer2": 4}})
    with serving(recorder.app()) as ratings_port, serving(reviews.build_app(_config("v2", ratings_port))) as port:
        body = _reviews(port)
    assert body["reviews"][0]["rating"] == {"stars": 5, "color": "black"}

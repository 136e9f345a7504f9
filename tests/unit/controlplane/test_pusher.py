"""The push queue starts on the leading edge and coalesces only while a push runs."""

from mizzen.controlplane.pusher import PushQueue, PushRequest


def test_first_request_starts_immediately() -> None:
    """A change arriving while idle asks for a push at once (no debounce delay)."""
    q = PushQueue()
    assert q.request(PushRequest(full=True)) is True
    req = q.start()
    assert req is not None and req.full


def test_requests_during_a_push_are_merged_into_one() -> None:
    """Changes that arrive while a push runs merge into a single follow-up push."""
    q = PushQueue()
    q.request(PushRequest(full=True))
    q.start()
    assert q.request(PushRequest(endpoints={"a"})) is False
    assert q.request(PushRequest(endpoints={"b"}, proxies={"p.default"})) is False
    assert q.start() is None  # still running
    assert q.done() is True
    follow = q.start()
    assert follow is not None
    assert follow.endpoints == {"a", "b"} and follow.proxies == {"p.default"} and not follow.full
    assert q.done() is False


def test_empty_request_does_nothing() -> None:
    """A request that asks for nothing never triggers a push."""
    q = PushQueue()
    assert q.request(PushRequest()) is False
    assert q.start() is None

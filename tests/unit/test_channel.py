"""Agent channel frames: a JSON header and raw body bytes, round-tripped; malformed frames are errors."""

from __future__ import annotations

import pytest

from mizzen import channel as proto


def test_frames_round_trip_with_binary_bodies() -> None:
    """A response frame keeps its header and its body byte for byte."""
    body = bytes(range(256)) * 3
    frame = proto.decode(proto.response(7, 200, "application/json", body).encode())
    assert frame.type == "response" and frame.header["id"] == 7 and frame.body == body
    assert proto.decode(proto.hello("a.default").encode()).header == {"type": "hello", "proxy": "a.default"}


def test_malformed_frames_are_protocol_errors() -> None:
    """Short, non-JSON or non-object headers raise proto.ChannelError rather than crashing a stream."""
    for data in (b"\x00", b"\x00\x00\x00\x09{}", b"\x00\x00\x00\x03abc", b"\x00\x00\x00\x02[]"):
        with pytest.raises(proto.ChannelError):
            proto.decode(data)


def test_ready_and_span_frames() -> None:
    """The control plane's ready frame has no body; a span frame carries its batch's bytes and type."""
    assert proto.decode(proto.ready().encode()).header == {"type": "ready"}
    frame = proto.decode(proto.spans("application/json", b'[{"traceId":"1","id":"2"}]').encode())
    assert frame.type == "spans" and frame.header["contentType"] == "application/json"
    assert frame.body == b'[{"traceId":"1","id":"2"}]'

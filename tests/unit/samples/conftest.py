"""Helpers for the Bookinfo unit tests: run apps in threads on free loopback ports, record calls."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import pytest

from mizzen.samples.bookinfo._http import App, Request, Response, json_response, start_in_thread


@contextmanager
def serving(app: App) -> Iterator[int]:
    """Serve ``app`` on a free port for the duration of the block; yields the port."""
    server = start_in_thread(app)
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()


@dataclass
class Recorder:
    """A stand-in backend: answers every request with ``respond(request)`` and records it."""

    respond: Callable[[Request], Response] = lambda _r: json_response({})
    delay: float = 0.0
    requests: list[Request] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def app(self) -> App:
        """An app routing every GET/POST path to the recorder."""
        app = App("recorder")

        def handle(request: Request) -> Response:
            with self.lock:
                self.requests.append(request)
            if self.delay:
                time.sleep(self.delay)
            return self.respond(request)

        app.route("GET", r"/.*")(handle)
        app.route("POST", r"/.*")(handle)
        return app


def wrap_recording(app: App, recorder: Recorder) -> App:
    """``app`` with every request also recorded in ``recorder`` (to see headers a real service gets)."""
    wrapped = App(app.name)

    def handle(request: Request) -> Response:
        with recorder.lock:
            recorder.requests.append(request)
        if recorder.delay:
            time.sleep(recorder.delay)
        return app.dispatch(request)

    wrapped.route("GET", r"/.*")(handle)
    wrapped.route("POST", r"/.*")(handle)
    return wrapped


@pytest.fixture
def recorder() -> Recorder:
    """A fresh recording backend description."""
    return Recorder()

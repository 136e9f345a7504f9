"""Under the host agent, each workload's log records go to its own `mizzen run`, from its own level on:
one client's --verbose does not turn on DEBUG lines for the others or for the host agent's log."""

from __future__ import annotations

import asyncio
import contextvars
import logging

from mizzen.agent import host


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record.getMessage())


def _log(handler: logging.Handler, client: host._Client | None, level: int, message: str) -> None:
    def emit() -> None:
        host._client.set(client)
        handler.handle(logging.LogRecord("mizzen.agent", level, __file__, 1, message, None, None))

    contextvars.copy_context().run(emit)


def test_each_client_gets_its_own_records_from_its_own_level_on() -> None:
    loop = asyncio.new_event_loop()
    try:
        fallback = Collect()
        handler = host._RouteToClient(loop, fallback)
        verbose_lines: list[str] = []
        quiet_lines: list[str] = []
        verbose = host._Client(verbose_lines.append, logging.DEBUG)
        quiet = host._Client(quiet_lines.append)
        for client in (verbose, quiet, None):
            _log(handler, client, logging.DEBUG, "debug")
            _log(handler, client, logging.WARNING, "warning")
        assert verbose_lines == ["mizzen DEBUG debug", "mizzen WARNING warning"]
        assert quiet_lines == ["mizzen WARNING warning"]
        assert fallback.records == ["warning"]  # the host agent's own log: INFO and above
    finally:
        loop.close()

"""Small tools the multi-host lab runs *inside* a host's namespace (the test process lives outside it).

    python -m mizzen.testing.netclient forward --unix /tmp/x.sock --to 127.0.0.1:15014
    python -m mizzen.testing.netclient capture --iface br0 --out frames.bin
    python -m mizzen.testing.netclient load --proxy http://127.0.0.1:PORT --out F --rate 50 http://echo:9080/

``capture`` writes every frame seen on an interface (an ``AF_PACKET`` socket, root only) to a file, each
prefixed by its 4-byte length, until SIGTERM: a tcpdump without the package, for "no plaintext on the wire"
checks. ``forward`` relays each connection of a UNIX socket (a file: reachable from every namespace) to a TCP
address inside this host, so a test can call a control plane bound in the namespace. ``load`` sends
requests through a sidecar at a steady rate until SIGTERM (or ``--count``), one JSON line per request
(``t`` start in wall-clock seconds, ``code``, ``ms``, ``version`` of the echo backend, ``error``), so a
test can compute failures and stalls around a fault.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        with contextlib.suppress(OSError, RuntimeError):
            writer.close()


async def forward(unix: Path, host: str, port: int) -> None:
    """Relay connections accepted on ``unix`` to ``host:port`` until cancelled."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(host, port)
        except OSError:
            writer.close()
            return
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))

    unix.unlink(missing_ok=True)
    server = await asyncio.start_unix_server(handle, path=str(unix))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    async with server:
        await stop.wait()
    unix.unlink(missing_ok=True)


def capture(iface: str, out: Path) -> None:
    """Append every frame on ``iface`` to ``out`` (4-byte big-endian length, then the frame) until SIGTERM."""
    import socket  # AF_PACKET: Linux only, root only

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    eth_p_all = 0x0003
    with socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(eth_p_all)) as sniffer, out.open("ab") as sink:
        if iface != "any":  # unbound, it sees every interface (a bridge's own device sees only local frames)
            sniffer.bind((iface, 0))
        sniffer.settimeout(0.2)
        print("capturing", flush=True)
        while not stop.is_set():
            try:
                frame = sniffer.recv(65535)
            except TimeoutError:
                continue
            sink.write(len(frame).to_bytes(4, "big") + frame)
            sink.flush()


def frames(path: Path) -> list[bytes]:
    """The frames a :func:`capture` wrote."""
    data, out, at = path.read_bytes(), [], 0
    while at + 4 <= len(data):
        size = int.from_bytes(data[at : at + 4], "big")
        out.append(data[at + 4 : at + 4 + size])
        at += 4 + size
    return out


def one(client: httpx.Client, url: str, headers: dict[str, str]) -> dict[str, Any]:
    """One request's record: start time, status (-1 on a transport error), latency, backend version."""
    start, t0 = time.time(), time.monotonic()
    record: dict[str, Any] = {"t": round(start, 3)}
    try:
        resp = client.get(url, headers=headers)
        record["code"] = resp.status_code
        with contextlib.suppress(ValueError, AttributeError):
            record["version"] = resp.json().get("version", "")
    except httpx.HTTPError as exc:
        record["code"], record["error"] = -1, f"{type(exc).__name__}: {exc}"[:200]
    record["ms"] = round((time.monotonic() - t0) * 1000, 1)
    return record


def load(url: str, *, proxy: str, out: Path, rate: float, count: int, headers: dict[str, str], timeout: float) -> None:
    """Requests at ``rate`` per second (each on its own thread, so a stalled one does not slow the rest)."""
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    lock = threading.Lock()
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("a", encoding="utf-8") as sink, httpx.Client(proxy=proxy, timeout=timeout, trust_env=False) as c:

        def send() -> None:
            line = json.dumps(one(c, url, headers))
            with lock:
                sink.write(line + "\n")
                sink.flush()

        threads: list[threading.Thread] = []
        sent, next_at = 0, time.monotonic()
        while not stop.is_set() and (count <= 0 or sent < count):
            thread = threading.Thread(target=send, daemon=True)
            thread.start()
            threads.append(thread)
            sent += 1
            next_at += 1.0 / rate
            stop.wait(max(0.0, next_at - time.monotonic()))
        for thread in threads:
            thread.join(timeout + 1)


def main(argv: list[str] | None = None) -> None:
    """The command line (see the module docstring)."""
    parser = argparse.ArgumentParser(prog="python -m mizzen.testing.netclient")
    sub = parser.add_subparsers(dest="cmd", required=True)
    fwd = sub.add_parser("forward")
    fwd.add_argument("--unix", type=Path, required=True)
    fwd.add_argument("--to", required=True, metavar="HOST:PORT")
    cap = sub.add_parser("capture")
    cap.add_argument("--iface", required=True)
    cap.add_argument("--out", type=Path, required=True)
    ld = sub.add_parser("load")
    ld.add_argument("url")
    ld.add_argument("--proxy", required=True)
    ld.add_argument("--out", type=Path, required=True)
    ld.add_argument("--rate", type=float, default=20.0)
    ld.add_argument("--count", type=int, default=0, help="stop after this many (default: until SIGTERM)")
    ld.add_argument("--header", action="append", default=[], metavar="K:V")
    ld.add_argument("--timeout", type=float, default=30.0)
    args = parser.parse_args(argv)
    if args.cmd == "capture":
        capture(args.iface, args.out)
        return
    if args.cmd == "forward":
        host, _, port = args.to.rpartition(":")
        asyncio.run(forward(args.unix, host, int(port)))
        return
    headers = dict(h.split(":", 1) for h in args.header)
    options = {"rate": args.rate, "count": args.count, "headers": headers, "timeout": args.timeout}
    load(args.url, proxy=args.proxy, out=args.out, **options)
    sys.exit(0)


if __name__ == "__main__":
    main()

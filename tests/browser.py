"""A real headless Chromium driven over the DevTools protocol, with the standard library only:
a WebSocket client just big enough for the protocol's JSON messages, and a PNG reader just
big enough to tell a blank screenshot from a drawn one.

The browser starts with a new empty profile and every flag that stops it from reaching the
network on its own (updates, sync, background requests); the page is a local file.
"""

from __future__ import annotations

import base64
import json
import os
import queue
import re
import secrets
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import threading
import time
import urllib.request
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from tests.process_groups import wait_for_group

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--remote-debugging-port=0")
START_GUARD_S = 60  # a guard against a browser that never starts, not a deadline


class Page:
    """One browser tab: send a command, wait for an event, collect what the page reports."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.next_id = 0
        self.events: list[dict[str, Any]] = []

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        self.next_id += 1
        _send(self.sock, json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            message = json.loads(_receive(self.sock))
            if message.get("id") == self.next_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                result: dict[str, Any] = message["result"]
                return result
            self.events.append(message)

    def wait_for(self, method: str) -> dict[str, Any]:
        for event in self.events:
            if event.get("method") == method:
                return event
        while True:
            message = json.loads(_receive(self.sock))
            self.events.append(message)
            if message.get("method") == method:
                return message

    def evaluate(self, expression: str) -> Any:
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        return result["result"].get("value")

    def errors(self) -> list[str]:
        """Console errors, uncaught exceptions and failed loads the page reported."""
        found = []
        for event in self.events:
            method, params = event.get("method"), event.get("params", {})
            if method == "Runtime.exceptionThrown":
                found.append(str(params["exceptionDetails"].get("text")))
            elif method == "Runtime.consoleAPICalled" and params.get("type") == "error":
                found.append(json.dumps(params.get("args")))
            elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
                found.append(str(params["entry"].get("text")))
            elif method == "Network.loadingFailed":
                found.append(f"load failed: {params.get('errorText')}")
        return found

    def requested(self) -> list[str]:
        return [e["params"]["request"]["url"] for e in self.events
                if e.get("method") == "Network.requestWillBeSent"]


@contextmanager
def chromium() -> Iterator[Page]:
    """A fresh headless Chromium with one blank tab; stopped and its profile removed after."""
    profile = Path(tempfile.mkdtemp(prefix="touchlog-chromium-"))
    # Its temporary files (the profile's lock socket among them) go in the profile too.
    # In a session of its own, so that its renderers and services are stopped with it.
    browser = subprocess.Popen([str(CHROMIUM), *FLAGS, f"--user-data-dir={profile}",
                                "about:blank"], stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, env={**os.environ, "TMPDIR": str(profile)},
                               start_new_session=True)
    try:
        port = _devtools_port(browser)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=30) as answer:
            targets = json.load(answer)
        url = next(t["webSocketDebuggerUrl"] for t in targets if t["type"] == "page")
        sock = _connect(url)
        try:
            page = Page(sock)
            for domain in ("Page", "Runtime", "Log", "Network"):
                page.call(f"{domain}.enable")
            yield page
        finally:
            sock.close()
    finally:
        # Every process of the browser, then the profile: one still running would write
        # into it again after it was removed.
        os.killpg(browser.pid, signal.SIGKILL)
        browser.wait()
        wait_for_group(browser.pid, timeout=60)
        shutil.rmtree(profile, ignore_errors=True)


def load(page: Page, path: Path, width: int = 800, height: int = 1200) -> float:
    """Opens the file in the tab; the seconds until its load event."""
    page.call("Emulation.setDeviceMetricsOverride", width=width, height=height,
              deviceScaleFactor=1, mobile=False)
    started = time.perf_counter()
    page.call("Page.navigate", url=path.resolve().as_uri())
    page.wait_for("Page.loadEventFired")
    return time.perf_counter() - started


def screenshot(page: Page, width: int = 800, height: int = 1200, scale: float = 0.25) -> bytes:
    """The top of the page as a PNG, scaled down (the PNG reader here is slow)."""
    shot = page.call("Page.captureScreenshot", format="png", clip={
        "x": 0, "y": 0, "width": width, "height": height, "scale": scale})
    return base64.b64decode(shot["data"])


def _devtools_port(browser: subprocess.Popen[bytes]) -> int:
    """The port the browser listens on, from the line it prints once it does ("DevTools
    listening on ws://127.0.0.1:PORT/…"). A thread reads its standard error to the end, so
    the browser never blocks on a full pipe; this waits for its lines, not for time."""
    assert browser.stderr is not None
    lines: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()

    def drain(stream: IO[bytes]) -> None:
        for line in stream:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=drain, args=(browser.stderr,), daemon=True).start()
    while True:
        try:
            line = lines.get(timeout=START_GUARD_S)
        except queue.Empty:
            raise RuntimeError(f"chromium printed nothing for {START_GUARD_S} s") from None
        if line is None:
            raise RuntimeError(f"chromium ended at start with {browser.wait()}")
        listening = _LISTENING.search(line)
        if listening:
            return int(listening.group(1))


_LISTENING = re.compile(rb"DevTools listening on ws://[^/]*:(\d+)/")


def _connect(url: str) -> socket.socket:
    host_port, _, path = url.removeprefix("ws://").partition("/")
    host, _, port = host_port.partition(":")
    sock = socket.create_connection((host, int(port)), timeout=60)
    key = base64.b64encode(secrets.token_bytes(16)).decode()
    sock.sendall((f"GET /{path} HTTP/1.1\r\nHost: {host_port}\r\nUpgrade: websocket\r\n"
                  f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                  "Sec-WebSocket-Version: 13\r\n\r\n").encode())
    answer = b""
    while b"\r\n\r\n" not in answer:
        answer += sock.recv(1)
    if b" 101 " not in answer.split(b"\r\n")[0]:
        raise RuntimeError(f"no WebSocket: {answer[:200]!r}")
    return sock


def _send(sock: socket.socket, text: str) -> None:
    data = text.encode()
    mask = os.urandom(4)
    size = len(data)
    head = bytes([0x81]) + (bytes([0x80 | size]) if size < 126 else
                            bytes([0x80 | 126]) + struct.pack(">H", size) if size < 1 << 16 else
                            bytes([0x80 | 127]) + struct.pack(">Q", size))
    sock.sendall(head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data)))


def _receive(sock: socket.socket) -> str:
    message = b""
    while True:
        first, second = _exactly(sock, 2)
        size = second & 0x7F
        if size == 126:
            size = struct.unpack(">H", _exactly(sock, 2))[0]
        elif size == 127:
            size = struct.unpack(">Q", _exactly(sock, 8))[0]
        payload = _exactly(sock, size)
        if first & 0x0F in (0x0, 0x1, 0x2):
            message += payload
        if first & 0x80 and first & 0x0F in (0x0, 0x1, 0x2):
            return message.decode()


def _exactly(sock: socket.socket, count: int) -> bytes:
    data = bytearray()
    while len(data) < count:
        chunk = sock.recv(min(count - len(data), 1 << 20))
        if not chunk:
            raise ConnectionError("the browser closed the connection")
        data += chunk
    return bytes(data)


def png_pixels(png: bytes) -> tuple[int, int, list[bytes]]:
    """Width, height and rows of RGB(A) pixels of an 8-bit PNG (what Chromium writes)."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    at, chunks = 8, {}
    data = b""
    while at < len(png):
        size, kind = struct.unpack(">I4s", png[at:at + 8])
        body = png[at + 8:at + 8 + size]
        if kind == b"IDAT":
            data += body
        else:
            chunks.setdefault(kind, body)
        at += 12 + size
    width, height, depth, colour = struct.unpack(">IIBB", chunks[b"IHDR"][:10])
    assert depth == 8 and colour in (2, 6), (depth, colour)
    step = 3 if colour == 2 else 4
    raw, rows, previous = zlib.decompress(data), [], bytearray(width * step)
    stride = width * step + 1
    for y in range(height):
        kind, line = raw[y * stride], bytearray(raw[y * stride + 1:(y + 1) * stride])
        for x in range(len(line)):
            left = line[x - step] if x >= step else 0
            up, corner = previous[x], previous[x - step] if x >= step else 0
            line[x] = (line[x] + (0, left, up, (left + up) // 2, _paeth(left, up, corner))[kind]
                       ) & 0xFF
        rows.append(bytes(line))
        previous = line
    return width, height, rows


def _paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    return a if pa <= pb and pa <= pc else b if pb <= pc else c

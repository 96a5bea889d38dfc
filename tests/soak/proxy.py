"""A flaky TCP proxy between the tools and the server, on 127.0.0.1 only.

Why our own: the faults a real network has that a clean test never shows are a connection
cut mid-stream, a middlebox that keeps the TCP connection open but forwards nothing (a stuck
pooler or NAT: keepalives are answered, so only an application-level deadline notices), and a
slow link. Each accepted connection draws its fate once, when the proxy is told what to do:

- ``drop``: forward normally, then close both sides after a random number of bytes;
- ``stall``: forward normally, then after a random number of bytes stop forwarding in both
  directions while keeping both sockets open (until the proxy stops);
- ``slow``: forward in small chunks with a short sleep between them;
- ``none``: forward.

``hold_on`` (regression tests): the first chunk that contains these bytes (a query's text) is
held until :attr:`FlakyProxy.release` is set; :attr:`FlakyProxy.held` is set meanwhile, so a
test can change the database between two given queries of a tool. ``fault_on``: the ``drop`` or
``stall`` fires at the first chunk that contains these bytes, instead of after a byte count.

Threads, not asyncio: two per connection, every socket with a timeout so that every loop
notices :meth:`FlakyProxy.close` within a second. Listens on 127.0.0.1 and connects only to
127.0.0.1 (the server's port): it never touches any other address.
"""

from __future__ import annotations

import random
import socket
import threading
import time
from collections import Counter

LOOPBACK = "127.0.0.1"


class FlakyProxy:
    """``127.0.0.1:<port>`` forwarding to ``127.0.0.1:<upstream_port>`` with one fault mode."""

    def __init__(self, upstream_port: int, mode: str, seed: int, after_bytes: int | None = None,
                 hold_on: bytes | None = None, fault_on: bytes | None = None) -> None:
        """``after_bytes``: fire the fault after exactly this many bytes (regression tests);
        default a random point per connection. ``hold_on``, ``fault_on``: see the module docstring."""
        assert mode in ("none", "drop", "stall", "slow")
        self.after_bytes = after_bytes
        self.hold_on = hold_on
        self.fault_on = fault_on
        self.held = threading.Event()
        self.release = threading.Event()
        self.upstream_port = upstream_port
        self.mode = mode
        self.rnd = random.Random(seed)
        self.lock = threading.Lock()
        self.closed = threading.Event()
        self.faults: Counter[str] = Counter()  # faults that really happened
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind((LOOPBACK, 0))
        self.listener.listen(32)
        self.listener.settimeout(0.5)
        self.port = self.listener.getsockname()[1]
        self.sockets: list[socket.socket] = []
        self.threads: list[threading.Thread] = []
        self._accept = threading.Thread(target=self._accept_loop, daemon=True)
        self._accept.start()

    def _accept_loop(self) -> None:
        while not self.closed.is_set():
            try:
                client, _ = self.listener.accept()
            except (socket.timeout, OSError):
                continue
            try:
                upstream = socket.create_connection((LOOPBACK, self.upstream_port), timeout=5)
            except OSError:
                client.close()
                continue
            with self.lock:
                # the fault fires after this many bytes (both directions counted): somewhere
                # in the startup packet, the catalog reads or a COPY, at random
                budget = self.after_bytes if self.after_bytes is not None else \
                    self.rnd.choice([self.rnd.randint(0, 4000), self.rnd.randint(4000, 200_000)])
                self.sockets += [client, upstream]
            state = {"bytes": 0, "budget": budget, "fired": False}
            for src, dst in ((client, upstream), (upstream, client)):
                t = threading.Thread(target=self._pump, args=(src, dst, state), daemon=True)
                t.start()
                self.threads.append(t)

    def _pump(self, src: socket.socket, dst: socket.socket, state: dict[str, int | bool]) -> None:
        src.settimeout(0.5)
        chunk = 512 if self.mode == "slow" else 65536
        tail = b""
        try:
            while not self.closed.is_set():
                if state["fired"] and self.mode == "stall":
                    time.sleep(0.2)
                    continue
                try:
                    data = src.recv(chunk)
                except socket.timeout:
                    continue
                if not data:
                    break
                seen = tail + data  # a marker may straddle two reads
                tail = seen[-64:]
                with self.lock:
                    state["bytes"] = int(state["bytes"]) + len(data)
                    due = state["bytes"] >= int(state["budget"]) if self.fault_on is None else self.fault_on in seen
                    fire = self.mode in ("drop", "stall") and not state["fired"] and due
                    if fire:
                        state["fired"] = True
                        self.faults[self.mode] += 1
                if fire and self.mode == "drop":
                    break
                if fire and self.mode == "stall":
                    continue  # swallowed; nothing more flows either way
                if self.mode == "slow":
                    time.sleep(0.001)
                if self.hold_on is not None and not self.held.is_set() and self.hold_on in seen:
                    self.held.set()
                    while not self.release.wait(0.2) and not self.closed.is_set():
                        pass
                dst.sendall(data)
        except OSError:
            pass
        if self.mode != "stall" or not state["fired"]:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                s.close()

    def close(self) -> None:
        """Stop: every pump thread ends within a second; every socket is closed."""
        self.closed.set()
        self._accept.join(5)
        for t in self.threads:
            t.join(5)
        with self.lock:
            for s in self.sockets:
                try:
                    s.close()
                except OSError:
                    pass
        self.listener.close()

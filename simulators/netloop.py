"""One network thread (epoll) for many paho clients, instead of a thread and a select() per client.

paho's own ``loop_start`` gives each client a thread that calls ``select()``, which fails silently past file
descriptor 1024 (about 340 clients per process); this loop has no such limit (one descriptor per client).
"""

from __future__ import annotations

import contextlib
import selectors
import threading
import time
from typing import Any

import paho.mqtt.client as mqtt

RECONNECT_S = 2.0
MISC_EVERY_S = 1.0


class NetLoop:
    """Drives the network I/O of registered clients: connects, reads, writes, keepalives and reconnects."""

    def __init__(self) -> None:
        """Create the selector; the thread starts on :meth:`start`."""
        self._sel = selectors.DefaultSelector()
        self._lock = threading.Lock()
        self._managed: set[mqtt.Client] = set()  # clients to keep connected
        self._due: dict[mqtt.Client, float] = {}  # client -> when to (re)connect
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="mqtt-netloop", daemon=True)

    def start(self) -> None:
        """Start the network thread."""
        self._thread.start()

    def add(self, client: mqtt.Client) -> None:
        """Manage a client on which ``connect_async`` was called: connect it soon, keep it connected."""
        client.on_socket_open = self._on_open
        client.on_socket_close = self._on_close
        client.on_socket_register_write = self._on_want_write
        client.on_socket_unregister_write = self._on_written
        with self._lock:
            self._managed.add(client)
            self._due[client] = 0.0

    def release(self, client: mqtt.Client) -> None:
        """Stop reconnecting a client (its pending writes, e.g. a DISCONNECT, are still sent)."""
        with self._lock:
            self._managed.discard(client)
            self._due.pop(client, None)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the thread and close the selector."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)
        self._sel.close()

    def _on_open(self, client: mqtt.Client, userdata: Any, sock: Any) -> None:
        with self._lock:
            self._sel.register(sock, selectors.EVENT_READ, client)

    def _on_close(self, client: mqtt.Client, userdata: Any, sock: Any) -> None:
        with self._lock:
            with contextlib.suppress(KeyError, ValueError):
                self._sel.unregister(sock)
            if client in self._managed:
                self._due[client] = time.monotonic() + RECONNECT_S

    def _modify(self, sock: Any, client: mqtt.Client, events: int) -> None:
        with self._lock, contextlib.suppress(KeyError, ValueError):  # the socket was closed meanwhile
            self._sel.modify(sock, events, client)

    def _on_want_write(self, client: mqtt.Client, userdata: Any, sock: Any) -> None:
        self._modify(sock, client, selectors.EVENT_READ | selectors.EVENT_WRITE)

    def _on_written(self, client: mqtt.Client, userdata: Any, sock: Any) -> None:
        self._modify(sock, client, selectors.EVENT_READ)

    def _connect_due(self, now: float) -> None:
        with self._lock:
            due = [c for c, at in self._due.items() if at <= now]
            for client in due:
                del self._due[client]
        for client in due:
            try:
                client.reconnect()
            except (TimeoutError, OSError):
                with self._lock:
                    if client in self._managed:
                        self._due[client] = now + RECONNECT_S

    def _run(self) -> None:
        last_misc = 0.0
        while not self._stop.is_set():
            now = time.monotonic()
            self._connect_due(now)
            for key, mask in self._sel.select(timeout=0.05):
                client: mqtt.Client = key.data
                if mask & selectors.EVENT_READ:
                    client.loop_read()
                if mask & selectors.EVENT_WRITE:
                    client.loop_write()
            if now - last_misc >= MISC_EVERY_S:
                last_misc = now
                with self._lock:
                    clients = list(self._managed)
                for client in clients:
                    client.loop_misc()

"""One network thread (epoll) for many paho clients, instead of a thread and a select() per client.

paho's own ``loop_start`` gives each client a thread that calls ``select()``, which fails silently past file
descriptor 1024 (about 340 clients per process); this loop has no such limit (one descriptor per client).
New connections are paced (``connect_rate`` per second) so a broker checking passwords is not flooded, and
keepalives are checked for a slice of the clients per pass (every client within ``MISC_SWEEP_S``): calling
paho's ``loop_misc`` on 20,000 clients every second would take most of a core.

Write interest is decided here from the client's own queue (``want_write()``) under this loop's lock, never
from paho's ``_registered_write`` flag: that flag is set and cleared without a lock by the publishing thread
and this one, so paho's register/unregister callbacks can arrive in the wrong order (the socket left
read-only with packets queued and the flag saying "registered": the client never sends again).
"""

from __future__ import annotations

import contextlib
import selectors
import threading
import time
from typing import Any

import paho.mqtt.client as mqtt

RECONNECT_S = 2.0
MISC_SWEEP_S = 10.0  # every client's keepalive is looked at this often (keepalive 60 s: a ping at 60..70 s)


class NetLoop:
    """Drives the network I/O of registered clients: connects, reads, writes, keepalives and reconnects."""

    def __init__(self, *, connect_rate: float = 0.0) -> None:
        """Create the selector; the thread starts on :meth:`start`.

        Args:
            connect_rate: connection attempts per second at most (0: no limit).
        """
        self._rate = connect_rate
        self._tokens = 1.0
        self._last_fill = time.monotonic()
        self._sweep: list[mqtt.Client] = []
        self._sweep_at = 0
        self._sel = selectors.DefaultSelector()
        self._lock = threading.Lock()
        self._watched: dict[mqtt.Client, tuple[Any, int]] = {}  # open socket and its selector events
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
            self._watched[client] = (sock, selectors.EVENT_READ)

    def _on_close(self, client: mqtt.Client, userdata: Any, sock: Any) -> None:
        with self._lock:
            self._watched.pop(client, None)
            with contextlib.suppress(KeyError, ValueError):
                self._sel.unregister(sock)
            if client in self._managed:
                self._due[client] = time.monotonic() + RECONNECT_S

    def _set(self, client: mqtt.Client, events: int) -> None:
        """Watch the client's socket for ``events`` (caller holds the lock)."""
        sock, now = self._watched.get(client, (None, events))
        if now == events:
            return  # no socket, or already so
        with contextlib.suppress(KeyError, ValueError, OSError):  # the socket was closed meanwhile
            self._sel.modify(sock, events, client)
            self._watched[client] = (sock, events)

    def wake(self, client: mqtt.Client) -> None:
        """The client has queued packets (any thread): watch its socket for writing.

        Call after every ``publish``/``disconnect`` made outside the network thread: paho's own
        ``on_socket_register_write`` is skipped while its unlocked flag still says "registered".
        Already watched for writing: nothing to do (:meth:`_sync` looks at the queue again after it stops
        watching, so a packet queued before this look is not left behind).
        """
        if self._watched.get(client, (None, 0))[1] & selectors.EVENT_WRITE:
            return
        with self._lock:
            self._set(client, selectors.EVENT_READ | selectors.EVENT_WRITE)

    def _sync(self, client: mqtt.Client) -> None:
        """Watch for writing exactly while the client has packets queued (network thread).

        Only a change takes the lock. A packet queued by another thread is followed by its :meth:`wake`:
        if that saw "watched for writing" before this stops watching, the second look at the queue below
        (after the stop) sees the packet; if it comes later, it takes the lock and watches again.
        """
        want = client.want_write()
        sock, events = self._watched.get(client, (None, 0))
        if sock is None or want == bool(events & selectors.EVENT_WRITE):
            return
        with self._lock:
            self._set(client, selectors.EVENT_READ | (selectors.EVENT_WRITE if client.want_write() else 0))
            if client.want_write():  # queued meanwhile by a thread whose wake() saw the old events
                self._set(client, selectors.EVENT_READ | selectors.EVENT_WRITE)

    def _on_want_write(self, client: mqtt.Client, userdata: Any, sock: Any) -> None:
        self.wake(client)

    def _on_written(self, client: mqtt.Client, userdata: Any, sock: Any) -> None:
        self._sync(client)

    def _budget(self, now: float) -> int:
        """How many connection attempts the rate limit allows now."""
        if self._rate <= 0:
            return 1 << 30
        self._tokens = min(self._tokens + (now - self._last_fill) * self._rate, max(self._rate / 10, 1.0))
        self._last_fill = now
        return int(self._tokens)

    def _connect_due(self, now: float) -> None:
        budget = self._budget(now)
        with self._lock:
            due = [c for c, at in self._due.items() if at <= now][:budget]
            for client in due:
                del self._due[client]
        if self._rate > 0:
            self._tokens -= len(due)
        for client in due:
            try:
                client.reconnect()
            except (TimeoutError, OSError):
                with self._lock:
                    if client in self._managed:
                        self._due[client] = now + RECONNECT_S
            self._sync(client)  # the CONNECT (and anything queued before) goes out

    def _misc(self, elapsed: float) -> None:
        """Keepalives of the next slice of clients (all of them once per ``MISC_SWEEP_S``)."""
        if self._sweep_at >= len(self._sweep):
            with self._lock:
                self._sweep = list(self._managed)
            self._sweep_at = 0
        step = max(int(len(self._sweep) * elapsed / MISC_SWEEP_S) + 1, 1)
        for client in self._sweep[self._sweep_at : self._sweep_at + step]:
            client.loop_misc()
            self._sync(client)  # a PINGREQ may have been queued
        self._sweep_at += step

    def _run(self) -> None:
        last = time.monotonic()
        while not self._stop.is_set():
            now = time.monotonic()
            self._connect_due(now)
            for key, mask in self._sel.select(timeout=0.02):
                client: mqtt.Client = key.data
                if mask & selectors.EVENT_READ:
                    client.loop_read()
                if mask & selectors.EVENT_WRITE:
                    client.loop_write()
                self._sync(client)  # PUBACKs, a PINGREQ or the resent session queued here; or all written
            self._misc(now - last)
            last = now

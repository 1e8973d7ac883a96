"""The processes and servers a fault drill breaks: start them, kill -9 one and start it again as a supervisor
would, restart the broker or PostgreSQL in place, and tell when everything answers ``/readyz`` again.

Each process is started by the one CLI (web.demo.supervisor) with a fixed worker id, so a restarted ingest or
rules process resumes its persistent broker sessions; each incarnation logs to its own file.
"""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from web.demo.supervisor import ProcSpec, Running, Supervisor
from web.settings import Settings
from web.stack import mosquitto, postgres
from web.stack.mosquitto import MqttPaths
from web.stack.postgres import PgPaths
from web.stack.proc import free_port, run_as_user, stop_pid

PROCESSES = ("ingest", "rules", "planner", "api")
SERVERS = ("broker", "postgres")
SESSION_EXPIRY_S = 600  # outlives a kill -9 and a restart; a drill's sessions do not linger in a shared stack


def readyz(url: str, timeout_s: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as resp:
            return int(resp.status) == 200
    except (OSError, urllib.error.URLError):
        return False


@dataclass
class Member:
    name: str
    args: list[str]  # `eldercare` arguments, the same for every incarnation
    ready_url: str
    run: Running | None = None
    incarnation: int = 0


@dataclass
class Fleet:
    """Ingest, rules, planner and the API as real processes, plus the stack's two servers."""

    settings: Settings
    tag: str
    log_dir: Path
    members: dict[str, Member] = field(default_factory=dict)
    crashes: list[tuple[float, str]] = field(default_factory=list)  # (when, "name (exit N)"): exited unasked

    def __post_init__(self) -> None:
        self.sup = Supervisor(self.log_dir)
        d = ["--dir", str(self.settings.stack_dir)]
        session = ["--worker-id", f"faults-{self.tag}", "--session-expiry-s", str(SESSION_EXPIRY_S)]
        for name, args in (("ingest", ["ingest", *d, *session]), ("rules", ["rules", *d, *session]),
                           ("planner", ["planner", *d])):  # fmt: skip
            port = free_port()
            self.members[name] = Member(
                name, [*args, "--metrics-port", str(port)], f"http://127.0.0.1:{port}/readyz"
            )
        port = free_port()
        self.members["api"] = Member(
            "api", ["serve", *d, "--port", str(port)], f"http://127.0.0.1:{port}/readyz"
        )

    def start_all(self, timeout_s: float = 90.0) -> None:
        for m in self.members.values():
            self._start(m)
        self.wait_ready(timeout_s)

    def _start(self, m: Member) -> None:
        m.incarnation += 1
        m.run = self.sup.start(ProcSpec(f"{m.name}.{m.incarnation}", m.args))

    def not_ready(self) -> list[str]:
        return [n for n, m in self.members.items() if not readyz(m.ready_url)]

    def wait_ready(self, timeout_s: float, names: list[str] | None = None) -> None:
        """Wait until the named members (all by default) answer /readyz 200; restart any that died meanwhile."""
        deadline = time.monotonic() + timeout_s
        while left := [n for n in (names or list(self.members)) if not readyz(self.members[n].ready_url)]:
            self.revive()
            if time.monotonic() > deadline:
                tails = "\n".join(f"--- {n}:\n{self.log_tail(n)}" for n in left)
                raise RuntimeError(f"not ready after {timeout_s:.0f} s: {', '.join(left)}\n{tails}")
            time.sleep(0.1)

    def log_tail(self, name: str) -> str:
        run = self.members[name].run
        return run.log_tail() if run else ""

    def kill9(self, name: str) -> None:
        """SIGKILL: no signal handler runs, nothing is flushed."""
        run = self.members[name].run
        assert run is not None
        run.proc.kill()
        run.proc.wait(30)
        self._forget(run)

    def _forget(self, run: Running) -> None:
        run.log_file.close()
        self.sup.running.remove(run)

    def restart(self, name: str) -> None:
        self._start(self.members[name])

    def revive(self) -> list[str]:
        """Start again every member that exited on its own (its supervisor's job); returns their names."""
        died = []
        for m in self.members.values():
            if m.run is not None and m.run.proc.poll() is not None:
                died.append(f"{m.name} (exit {m.run.proc.returncode})")
                self.crashes.append((time.time(), died[-1]))
                self._forget(m.run)
                self._start(m)
        return died

    def stop_all(self) -> None:
        self.sup.stop()

    # -- the servers -------------------------------------------------------------------------------------------
    def stop_server(self, name: str) -> None:
        """Stop Mosquitto (SIGTERM: it saves its persistence) or PostgreSQL (fast shutdown)."""
        root = self.settings.stack_dir
        if name == "broker":
            pid = mosquitto.running_pid(MqttPaths(root / "mqtt"))
            if pid is None:
                raise RuntimeError("the stack's broker is not running")
            stop_pid(pid)
        else:
            postgres.stop(PgPaths(root / "pg"), user=run_as_user())

    def start_server(self, name: str) -> None:
        """Start it again on the same port, with the same data and persistence."""
        root = self.settings.stack_dir
        if name == "broker":
            mosquitto.start(MqttPaths(root / "mqtt"), port=self.settings.mqtt().port, user=run_as_user())
        else:
            postgres.start(PgPaths(root / "pg"), user=run_as_user())

"""``eldercare stack up|down|status``: both private servers under one directory, with their settings in stack.env."""

from __future__ import annotations

import json
import os
import secrets
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from devices.mqtt_auth import acl_text, signal_reload
from web.stack import edge, mosquitto, postgres
from web.stack.mosquitto import MqttPaths
from web.stack.postgres import PgPaths
from web.stack.proc import StackError, check_port_free, free_port, run_as_user

__all__ = ["StackError", "StackInfo", "down", "status", "up"]

STATE_FILE = "stack.json"
ENV_FILE = "stack.env"


@dataclass
class StackState:
    pg_port: int
    mqtt_port: int
    pg_superuser_password: str
    pg_app_password: str
    mqtt_passwords: dict[str, str]
    edge_ports: list[int] = field(default_factory=list)  # one edge broker per port (``up --edge-brokers N``)


@dataclass
class StackInfo:
    dir: Path
    db_url: str
    mqtt_url: str
    pg_running: bool
    pg_health: str
    mqtt_running: bool
    mqtt_health: str
    started: list[str]
    edges: list[dict[str, str | bool]] = field(default_factory=list)  # name, url, running, health

    @property
    def healthy(self) -> bool:
        return (
            self.pg_running
            and self.mqtt_running
            and self.pg_health.startswith("ok")
            and self.mqtt_health.startswith("ok")
            and all(str(e["health"]).startswith("ok") for e in self.edges)
        )


def _paths(root: Path) -> tuple[PgPaths, MqttPaths]:
    return PgPaths(root / "pg"), MqttPaths(root / "mqtt")


def _check_writable(root: Path) -> None:
    try:
        root.mkdir(parents=True, exist_ok=True)
        probe = root / ".write-test"
        probe.write_text("x")
        probe.unlink()
    except OSError as exc:
        raise StackError(
            f"--dir {root} is not writable ({exc.strerror}): choose a directory you can write to"
        ) from exc


def _load_state(root: Path) -> StackState | None:
    path = root / STATE_FILE
    if not path.exists():
        return None
    try:
        return StackState(**json.loads(path.read_text()))
    except (ValueError, TypeError) as exc:
        raise StackError(f"{path} is corrupt ({exc}): remove the directory and run `stack up` again") from exc


def _save(root: Path, state: StackState) -> None:
    for name, text in ((STATE_FILE, json.dumps(asdict(state), indent=2)), (ENV_FILE, env_text(root, state))):
        path = root / name
        path.touch(mode=0o600, exist_ok=True)
        path.chmod(0o600)
        path.write_text(text)


def db_url(state: StackState, *, admin: bool = False) -> str:
    if admin:
        return f"postgresql://{postgres.SUPERUSER}:{state.pg_superuser_password}@127.0.0.1:{state.pg_port}/{postgres.APP_DB}"
    return f"postgresql://{postgres.APP_ROLE}:{state.pg_app_password}@127.0.0.1:{state.pg_port}/{postgres.APP_DB}"


def env_text(root: Path, state: StackState) -> str:
    _, mp = _paths(root)
    values = {
        "ELDERCARE_STACK_DIR": str(root),
        "ELDERCARE_DB_URL": db_url(state),
        "ELDERCARE_DB_ADMIN_URL": db_url(state, admin=True),
        "ELDERCARE_MQTT_HOST": "127.0.0.1",
        "ELDERCARE_MQTT_PORT": str(state.mqtt_port),
        "ELDERCARE_MQTT_USERNAME": "svc-ingest",
        "ELDERCARE_MQTT_PASSWORD": state.mqtt_passwords["svc-ingest"],
        "ELDERCARE_MQTT_OPS_USERNAME": "svc-ops",
        "ELDERCARE_MQTT_OPS_PASSWORD": state.mqtt_passwords["svc-ops"],
        "ELDERCARE_MQTT_PASSWORD_FILE": str(mp.passwd),
        "ELDERCARE_MQTT_BASE_PASSWORD_FILE": str(mp.base_passwd),
        "ELDERCARE_MQTT_PID_FILE": str(mp.pid),
    }
    return "# written by `eldercare stack up`: secrets, keep private\n" + "".join(
        f"{k}={v}\n" for k, v in values.items()
    )


def _new_state(pg_port: int, mqtt_port: int) -> StackState:
    return StackState(
        pg_port=pg_port or free_port(),
        mqtt_port=mqtt_port or free_port(),
        pg_superuser_password=secrets.token_urlsafe(24),
        pg_app_password=secrets.token_urlsafe(24),
        mqtt_passwords={name: secrets.token_urlsafe(24) for name in SERVICE_ACCOUNTS},
    )


SERVICE_ACCOUNTS = ("svc-ingest", "svc-ops", edge.BRIDGE_ACCOUNT)


def edge_brokers(root: Path) -> list[edge.Edge]:
    """The edge brokers configured for the stack in ``root`` (running or not); none without a stack."""
    state = _load_state(root.resolve())
    return edge.edges(root.resolve(), state.edge_ports) if state else []


def _resize_edges(root: Path, state: StackState, wanted: int | None) -> None:
    """Keep the persisted edges (``wanted`` None), or stop the ones beyond ``wanted`` / add ports for more."""
    if wanted is None:
        return
    edge.stop_all(edge.edges(root, state.edge_ports)[wanted:])
    del state.edge_ports[wanted:]
    taken = {state.pg_port, state.mqtt_port, *state.edge_ports}
    while len(state.edge_ports) < wanted:
        port = free_port()
        if port not in taken:
            taken.add(port)
            state.edge_ports.append(port)


def up(root: Path, *, pg_port: int = 0, mqtt_port: int = 0, edge_brokers: int | None = None) -> StackInfo:
    """Start both servers and the edge brokers (idempotent). On failure, stop what this call started and
    raise StackError. ``edge_brokers``: how many (None: as many as the stack had; 0 for a new one)."""
    root = root.resolve()
    _check_writable(root)
    postgres.bindir()
    mosquitto.binary()
    state = _load_state(root)
    if state is None:
        for port in (pg_port, mqtt_port):
            if port:
                check_port_free(port)
        state = _new_state(pg_port, mqtt_port)
    elif (pg_port and pg_port != state.pg_port) or (mqtt_port and mqtt_port != state.mqtt_port):
        raise StackError(
            f"{root} already holds a stack on ports {state.pg_port}/{state.mqtt_port}: use `stack down` and another --dir"
        )
    new_accounts = [a for a in SERVICE_ACCOUNTS if a not in state.mqtt_passwords]  # a stack made before them
    state.mqtt_passwords |= {a: secrets.token_urlsafe(24) for a in new_accounts}
    user = run_as_user()
    if user is not None:
        _let_service_account_in(root)
    pg = _paths(root)[0]
    _resize_edges(root, state, edge_brokers)
    started: list[str] = []
    try:
        if postgres.running_pid(pg) is None:
            check_port_free(state.pg_port)
            if not postgres.is_initialised(pg):
                postgres.initialise(
                    pg, port=state.pg_port, superuser_password=state.pg_superuser_password, user=user
                )
            postgres.start(pg, user=user)
            started.append("postgresql")
        postgres.bootstrap(pg, port=state.pg_port, app_password=state.pg_app_password)
        started += _start_brokers(root, state, user=user, new_accounts=new_accounts)
        _save(root, state)
    except BaseException:
        if "postgresql" in started:
            postgres.stop(pg, user=user)
        raise
    info = _status_once_bridged(root)
    info.started = started
    return info


def _status_once_bridged(root: Path, wait_s: float = 30.0) -> StackInfo:
    """The stack's status, after giving edges just started up to ``wait_s`` to pass their bridge probe."""
    deadline = time.monotonic() + wait_s
    info = status(root)
    while any(e["running"] and not str(e["health"]).startswith("ok") for e in info.edges):
        if time.monotonic() > deadline:
            break
        time.sleep(0.5)
        info = status(root)
    return info


def _start_brokers(root: Path, state: StackState, *, user: str | None, new_accounts: list[str]) -> list[str]:
    """Start the core broker (or load service accounts new to it), then the edge brokers; return what started."""
    mq = _paths(root)[1]
    started = []
    if mosquitto.running_pid(mq) is None:
        check_port_free(state.mqtt_port)
        mosquitto.write_config(mq, port=state.mqtt_port, service_passwords=state.mqtt_passwords, user=user)
        mosquitto.start(mq, port=state.mqtt_port, user=user)
        started.append("mosquitto")
    elif new_accounts or mq.acl.read_text() != acl_text():  # a stack made before them: load the new rules
        mosquitto.write_config(mq, port=state.mqtt_port, service_passwords=state.mqtt_passwords, user=user)
        signal_reload(mq.pid)
    try:
        started += edge.start_all(edge.edges(root, state.edge_ports), core=mq, core_port=state.mqtt_port,
                                  bridge_password=state.mqtt_passwords[edge.BRIDGE_ACCOUNT], user=user)  # fmt: skip
    except BaseException:
        if started:
            _stop_mosquitto(mq)
        raise
    return started


def _let_service_account_in(root: Path) -> None:
    """Running as root, the servers run as our unprivileged account, which must be able to reach ``root``."""
    root.chmod(root.stat().st_mode | 0o711)
    for parent in root.parents:
        mode = parent.stat().st_mode
        if not mode & 0o001:
            raise StackError(
                f"{parent} is closed to other users, so the unprivileged server account cannot reach {root}: "
                "choose a --dir under /tmp, /var or a world-traversable path"
            )


def _stop_mosquitto(mq: MqttPaths) -> None:
    from web.stack.proc import stop_pid

    pid = mosquitto.running_pid(mq)
    if pid is not None:
        stop_pid(pid)


def down(root: Path) -> list[str]:
    """Stop the servers that ``up`` started in this directory; the data stays for the next ``up``."""
    root = root.resolve()
    if _load_state(root) is None:
        raise StackError(f"no stack in {root} (no {STATE_FILE}): nothing to stop")
    pg, mq = _paths(root)
    stopped = edge.stop_all(edge_brokers(root))
    edge.write_readers(mq, [])
    if mosquitto.running_pid(mq) is not None:
        _stop_mosquitto(mq)
        stopped.append("mosquitto")
    if postgres.running_pid(pg) is not None:
        postgres.stop(pg, user=run_as_user())
        stopped.append("postgresql")
    return stopped


def status(root: Path) -> StackInfo:
    root = root.resolve()
    state = _load_state(root)
    if state is None:
        raise StackError(f"no stack in {root}: run `eldercare stack up --dir {root}`")
    pg, mq = _paths(root)
    pg_running = postgres.running_pid(pg) is not None
    mqtt_running = mosquitto.running_pid(mq) is not None
    pg_ok, pg_msg = postgres.health(db_url(state)) if pg_running else (False, "stopped")
    mqtt_msg = "stopped"
    if mqtt_running:
        mqtt_msg = _mqtt_health(state)
    return StackInfo(
        dir=root,
        db_url=f"postgresql://{postgres.APP_ROLE}:***@127.0.0.1:{state.pg_port}/{postgres.APP_DB}",
        mqtt_url=f"mqtt://127.0.0.1:{state.mqtt_port}",
        pg_running=pg_running,
        pg_health=("ok: " if pg_ok else "error: ") + pg_msg,
        mqtt_running=mqtt_running,
        mqtt_health=mqtt_msg,
        started=[],
        edges=[_edge_info(e, state) for e in edge.edges(root, state.edge_ports)],
    )


def _edge_info(e: edge.Edge, state: StackState) -> dict[str, str | bool]:
    health = edge.health(
        e, core_port=state.mqtt_port, ops_user="svc-ops", ops_password=state.mqtt_passwords["svc-ops"]
    )
    return {
        "name": e.name,
        "url": f"mqtt://127.0.0.1:{e.port}",
        "running": health != "stopped",
        "health": health,
    }


def _mqtt_health(state: StackState) -> str:
    try:
        ops = mosquitto.connack(state.mqtt_port, "svc-ops", state.mqtt_passwords["svc-ops"])
        anon = mosquitto.connack(state.mqtt_port, None, None)
        wrong = mosquitto.connack(state.mqtt_port, "svc-ops", "wrong-" + os.urandom(4).hex())
    except OSError as exc:
        return f"error: unreachable ({exc})"
    if ops != 0:
        return f"error: service account refused (CONNACK {ops})"
    if anon == 0 or wrong == 0:
        return "error: auth is OFF (anonymous or wrong password accepted)"
    return "ok: auth on (anonymous and wrong passwords refused), ACL file loaded"

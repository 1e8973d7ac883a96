"""CLI commands of the simulate domain (registered on the one ``eldercare`` app by web/cli.py)."""

from __future__ import annotations

import json
import logging
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import typer

from web.cli_devices import DirOpt, configure_logging

if TYPE_CHECKING:
    from simulators.home import Home
    from simulators.live import Progress
    from simulators.publish import Publisher
    from web.settings import Settings

log = logging.getLogger("simulators.cli")
MAX_PAST = timedelta(days=6)  # ingest refuses readings older than 7 days by default
INCIDENTS_HELP = (
    "none; or random:RATE (RATE = incidents per home per simulated day, any kind) or random:RATE:kind|kind; "
    "or a schedule, items separated by commas, each KIND, optionally followed by @WHEN (an ISO time, naive = "
    "--tz, or 'dayN HH:MM'), +DURATION (90m, 1h30m, 3d) and /HOME_ID, e.g. 'fall_bathroom@day1 10:00+90m'. "
    "Kinds: fall_bathroom fall_bedroom fall_kitchen sos not_up_in_morning no_water_use night_exit_no_return "
    "long_bathroom_stay smoke gas water_leak indoor_cold indoor_heat device_silent battery_depleted "
    "gateway_offline resident_away. Items may be combined with one random:... item"
)


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise typer.BadParameter(f"unknown time zone {name!r}", param_hint="--tz") from None


def _start(text: str | None, *, tz: ZoneInfo, lead: timedelta) -> datetime:
    """The simulated start: ``--start`` (naive = local to --tz), or now minus ``lead``."""
    if text is None:
        return (datetime.now(UTC) - min(lead, MAX_PAST)).astimezone(tz)
    try:
        ts = datetime.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not an ISO date-time", param_hint="--start") from None
    return ts.replace(tzinfo=tz) if ts.tzinfo is None else ts.astimezone(tz)


@contextmanager
def _stop_on_signals() -> Iterator[threading.Event]:
    """An event set by SIGTERM or SIGINT while the block runs (the run then stops cleanly, exit 0)."""
    stop = threading.Event()
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    for sig in previous:
        signal.signal(sig, lambda *_: stop.set())
    try:
        yield stop
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _progress_printer(
    prog: Progress, stop: threading.Event, label: str, every: float = 2.0
) -> threading.Thread:
    def loop() -> None:
        last, last_t = 0, time.monotonic()
        while not stop.wait(every):
            now = time.monotonic()
            rate = (prog.published - last) / max(now - last_t, 1e-6)
            last, last_t = prog.published, now
            sim = (
                datetime.fromtimestamp(prog.sim_ts, UTC).isoformat(timespec="seconds") if prog.sim_ts else "-"
            )
            print(
                f"{label} | sim {sim} | {prog.published} readings ({rate:.0f}/s) | "
                f"{prog.incidents} incidents | lag {prog.lag_s:.1f}s",
                file=sys.stderr,
                flush=True,
            )

    thread = threading.Thread(target=loop, name="progress", daemon=True)
    thread.start()
    return thread


def _credentials(
    s: Settings, homes: list[Home], *, provision: bool, station: str | None, seed: int
) -> dict[str, str]:
    """Register missing homes (with ``provision``), then issue fresh broker credentials for all of them."""
    import psycopg

    from simulators.station import issue_credentials, register_homes, station_location

    t0 = time.monotonic()
    with psycopg.connect(s.db().conninfo()) as conn:
        if provision:
            where = station_location(conn, station) if station else (0.0, 0.0)

            def shown(done: int) -> None:
                if len(homes) >= 1000:
                    print(f"provision: {done}/{len(homes)} homes registered ({time.monotonic() - t0:.1f} s)",
                          file=sys.stderr, flush=True)  # fmt: skip

            created = register_homes(
                conn, homes=homes, station_id=station, where=where, seed=seed, progress=shown
            )
            log.info("provisioned %d new homes (%d already registered) in %.1f s",
                     created, len(homes) - created, time.monotonic() - t0)  # fmt: skip
        else:
            ids = [h.home_id for h in homes]
            row = conn.execute("SELECT count(*) FROM home WHERE id = ANY(%s)", (ids,)).fetchone()
            if row is None or row[0] != len(homes):
                raise typer.BadParameter("the simulated homes are not registered: add --provision")
        t1 = time.monotonic()
        creds = issue_credentials(conn, homes=homes, broker=s.mqtt())
        log.info("issued %d broker credentials in %.1f s", len(creds), time.monotonic() - t1)
    time.sleep(
        0.5 + len(creds) / 50_000
    )  # let the broker reload its password file before the devices connect
    return creds


def _publisher(s: Settings, creds: dict[str, str]) -> Publisher:
    from simulators.publish import Publisher, encode

    mqtt = s.mqtt()
    return Publisher(host=mqtt.host, port=mqtt.port, credentials=creds.__getitem__, encode=encode)


def _run(
    streams: list[Any],
    *,
    publisher: Publisher,
    speed: float,
    start: datetime,
    seconds: float | None,
    truth: Path | None,
    label: str,
) -> Progress:
    """Publish the streams paced by the clock until done, ``seconds`` or a signal; flush and close."""
    from simulators.clock import SimClock
    from simulators.incidents import jsonl_writer
    from simulators.live import Progress, run_live

    prog = Progress()
    wall0 = time.time()
    deadline = wall0 + seconds if seconds is not None else None
    with _stop_on_signals() as stop, truth.open("a", encoding="utf-8") if truth else _null() as fp:
        on_truth: Callable[[Any], None] = jsonl_writer(fp) if fp is not None else (lambda _r: None)
        done = threading.Event()
        _progress_printer(prog, done, label)
        log.info("%s ready: publishing from simulated %s at speed %g", label, start.isoformat(), speed)
        try:
            clock = SimClock(start, wall0, speed)
            run_live(streams, clock=clock, publish=publisher.publish_item, on_truth=on_truth,
                     stop=stop, deadline=deadline, progress=prog)  # fmt: skip
        finally:
            done.set()
            if not publisher.flush(15):
                log.warning("%d readings were not acknowledged by the broker", publisher.unacked())
            publisher.close()
    return prog


@contextmanager
def _null() -> Iterator[None]:
    yield None


def _replay_source(text: str) -> Path:
    """``casas:PATH`` -> the path of an existing file; anything else is a usage error (exit 2)."""
    scheme, sep, rest = text.partition(":")
    if not sep or scheme != "casas" or not rest:
        raise typer.BadParameter(
            f"{text!r}: want casas:PATH (the only log format known)", param_hint="--replay"
        )
    path = Path(rest)
    if not path.is_file():
        raise typer.BadParameter(f"{path}: no such file", param_hint="--replay")
    return path


def _load_display(label: str, homes: int, started: float) -> Callable[[Any, bool], None]:
    """A progress line on stderr per tick: homes online, connections, messages/s, incidents, lag."""
    last = {"n": 0.0, "t": time.monotonic(), "ready": 0.0}

    def show(snap: Any, running: bool) -> None:
        now = time.monotonic()
        rate = (snap.published - last["n"]) / max(now - last["t"], 1e-6)
        last["n"], last["t"] = snap.published, now
        if running and not last["ready"]:
            last["ready"] = 1
            print(f"{label} ready: {snap.homes_online}/{homes} homes online, {snap.connected} connections "
                  f"({now - started:.0f} s to connect)", file=sys.stderr, flush=True)  # fmt: skip
        print(f"{label} | {snap.homes_online}/{homes} homes online | {snap.connected} connections | "
              f"{snap.published} msgs ({rate:.0f}/s) | {snap.incidents} incidents | lag {snap.lag_s:.2f}s",
              file=sys.stderr, flush=True)  # fmt: skip

    return show


def _broker_cpu(listeners: list[Any]) -> list[float | None]:
    """CPU seconds each broker process has used so far (None when its pid is unknown)."""
    from web.stack.edge import cpu_seconds

    return [cpu_seconds(x.pid_file) if x.pid_file is not None else None for x in listeners]


def _listeners(s: Settings, choice: str) -> tuple[list[Any], list[Any]]:
    """The brokers the devices connect to (``--brokers``) and the ones whose CPU is reported (plus the core)."""
    from web.stack.edge import Listener, load_listeners
    from web.stack.stack import edge_brokers

    mq = s.mqtt()
    core = Listener("core", mq.host, mq.port, mq.pid_file)
    try:
        targets = load_listeners(core, edge_brokers(s.stack_dir), choice)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--brokers") from None
    return targets, ([] if core in targets else [core]) + targets


def _plan_processes(homes: list[Home], *, wanted: int, targets: list[Any]) -> tuple[int, int]:
    """Worker count (enough that none holds more than ~18,000 sockets) and the most sockets one holds;
    warns when a broker would get more connections than its open-file limit lets it hold."""
    from simulators.load import MAX_SOCKETS_PER_PROCESS, plan_processes, sockets_per_process
    from simulators.station import publishing_accounts
    from web.stack.edge import open_file_limit

    accounts = [len(publishing_accounts([h])) for h in homes]
    n = plan_processes(accounts, wanted=wanted, brokers=len(targets))
    per = sockets_per_process(accounts, n)
    if n > wanted:
        log.info("simulate: %d processes instead of %d (a multiple of the %d brokers, none holding more than "
                 "%d sockets)", n, wanted, len(targets), MAX_SOCKETS_PER_PROCESS)  # fmt: skip
    for i, target in enumerate(targets):
        load = sum(per[i :: len(targets)])
        limit = open_file_limit(target.pid_file) if target.pid_file is not None else None
        if limit is not None and load > limit - 100:
            log.warning("simulate: %s would hold %d connections but can open %d files: add edge brokers "
                        "(`eldercare stack up --edge-brokers N`)", target.name, load, limit)  # fmt: skip
    return n, max(per)


def _broker_record(measured: list[Any], cpu: list[list[float | None]], times: list[float],
                   conns: dict[int, int]) -> list[dict[str, Any]]:  # fmt: skip
    """Per broker: connections held at the end, CPU % while connecting and while publishing."""

    def pct(a: float | None, b: float | None, dt: float) -> float | None:
        return round(100 * (b - a) / dt, 1) if a is not None and b is not None and dt > 0 else None

    (c0, c1, c2), (t0, t1, t2) = cpu, times
    return [{"name": x.name, "port": x.port, "connections": conns.get(x.port, 0),
             "cpu_percent_connecting": pct(c0[i], c1[i], t1 - t0), "cpu_percent_running": pct(c1[i], c2[i], t2 - t1)}
            for i, x in enumerate(measured)]  # fmt: skip


def simulate(
    station: Annotated[
        str | None, typer.Option(help="station the homes belong to (must exist with --provision)")
    ] = None,
    dir_: DirOpt = None,
    homes: Annotated[int, typer.Option(min=1, max=50000, help="number of simulated homes")] = 10,
    provision: Annotated[
        bool, typer.Option(help="register missing homes, residents and devices first")
    ] = False,
    speed: Annotated[
        float, typer.Option(min=0.001, max=100000, help="simulated seconds per real second")
    ] = 1.0,
    seed: Annotated[int, typer.Option(min=0, help="same seed, same homes, routines and incidents")] = 0,
    incidents: Annotated[str, typer.Option(help=INCIDENTS_HELP)] = "none",
    quiet_homes: Annotated[
        int,
        typer.Option(
            min=0,
            help="the last N of --homes get no incidents: incident-free controls on the same simulated clock",
        ),
    ] = 0,
    truth: Annotated[
        Path | None, typer.Option(help="append ground truth here (JSON lines)", dir_okay=False)
    ] = None,
    seconds: Annotated[float | None, typer.Option(min=0.1, help="stop after this many real seconds")] = None,
    days: Annotated[int, typer.Option(min=0, help="simulated days (0: until stopped)")] = 0,
    start: Annotated[
        str | None,
        typer.Option(
            help="simulated start (ISO; naive = --tz). Default: now, or with --speed > 1 in the past "
            "(speed x --seconds back, else 1 day, at most 6 days) so the run catches up with the clock"
        ),
    ] = None,
    tz: Annotated[
        str, typer.Option(help="the residents' local time zone (routines follow it)")
    ] = "Asia/Shanghai",
    replay: Annotated[
        str | None, typer.Option(help="casas:PATH: replay a CASAS log as one home instead of simulating")
    ] = None,
    home_id: Annotated[str, typer.Option(help="with --replay: the home to replay into")] = "casas-h00001",
    mapping: Annotated[
        Path | None, typer.Option(help="with --replay: sensor mapping (.json or .csv)", exists=True)
    ] = None,
    mix: Annotated[str, typer.Option(help="neighbourhood (~11 connections a home) or gateway (~5)")] = (
        "neighbourhood"
    ),
    processes: Annotated[int, typer.Option(min=0, help="worker processes (0: one per 5,000 homes)")] = 0,
    connect_rate: Annotated[float, typer.Option(min=1, help="new broker connections per second")] = 1000.0,
    brokers: Annotated[
        str, typer.Option(help="auto (the stack's edge brokers if any run, else the core), core or edges")
    ] = "auto",
    max_lag_ms: Annotated[
        float, typer.Option(min=1, help="p99 publish lag above this = falling behind (exit 1)")
    ] = 1000.0,
    order_window_s: Annotated[
        float | None,
        typer.Option(
            min=0,
            help="hold each reading until the broker has acknowledged every reading stamped more than this "
            "many simulated seconds before it: readings reach subscribers in time order to within it (for "
            "rules on the readings' clock, `rules --clock data`)",
        ),
    ] = None,
    json_: Annotated[bool, typer.Option("--json", help="print one JSON record of the run on stdout")] = False,
    log_level: Annotated[str, typer.Option()] = "info",
) -> None:
    """Simulated homes publishing over MQTT with their devices' own credentials (readings never run ahead
    of the real clock: an accelerated run catches up with now and then continues in real time), or with
    --replay casas:PATH a real sensor log. SIGTERM/SIGINT stop it cleanly."""
    if replay is not None:
        path = _replay_source(replay)
        _replay(path, dir_=dir_, home_id=home_id, station=station, speed=speed, limit=None,
                mapping=mapping, seconds=seconds, tz=tz, log_level=log_level)  # fmt: skip
        return
    if station is None:
        raise typer.BadParameter("give --station (or --replay casas:PATH)", param_hint="--station")
    if quiet_homes > homes:
        raise typer.BadParameter(f"at most --homes ({homes})", param_hint="--quiet-homes")
    _simulate(station, dir_=dir_, homes=homes, provision=provision, speed=speed, seed=seed,
              incidents=incidents, quiet_homes=quiet_homes, truth=truth, seconds=seconds, days=days, start=start, tz=tz, mix=mix,
              processes=processes or -(-homes // 5000), brokers=brokers, connect_rate=connect_rate, max_lag_ms=max_lag_ms,
              order_window_s=order_window_s, json_=json_, log_level=log_level)  # fmt: skip


def _simulate(station: str, *, dir_: Path | None, homes: int, provision: bool, speed: float, seed: int,
              incidents: str, quiet_homes: int, truth: Path | None, seconds: float | None, days: int, start: str | None, tz: str,
              mix: str, processes: int, brokers: str, connect_rate: float, max_lag_ms: float,
              order_window_s: float | None, json_: bool, log_level: str) -> None:  # fmt: skip
    from simulators.errors import SimulatorError
    from simulators.incidents import parse_spec
    from simulators.load import LoadJob, connections_by_broker, raise_fd_limit, run_load, summary
    from simulators.schedule import validate
    from simulators.station import Mix, station_homes
    from web.settings import load_settings

    configure_logging(log_level)
    try:
        the_mix = Mix(mix)
    except ValueError:
        raise typer.BadParameter(f"unknown mix {mix!r}", param_hint="--mix") from None
    lead = 0.0 if speed <= 1 else (speed - 1) * seconds if seconds is not None else 86400.0
    sim_start = _start(start, tz=_zone(tz), lead=timedelta(seconds=lead))
    n_days = days or 3650
    the_homes = station_homes(station, homes, seed=seed, mix=the_mix)
    try:
        spec = parse_spec("" if incidents.strip() == "none" else incidents)
        plan = (
            validate(spec, start=sim_start, days=n_days, homes=the_homes[: homes - quiet_homes], seed=seed)
            if spec.items or spec.rate
            else None
        )
    except SimulatorError as exc:
        raise typer.BadParameter(str(exc), param_hint="--incidents") from None
    s = load_settings(dir_)
    creds = _credentials(s, the_homes, provision=provision, station=station, seed=seed)
    fd_limit = raise_fd_limit()
    targets, measured = _listeners(s, brokers)
    n_proc, most_sockets = _plan_processes(the_homes, wanted=processes, targets=targets)
    job = LoadJob(homes=the_homes, start=sim_start, days=n_days, seed=seed, plan=plan, speed=speed,
                  host=targets[0].host, port=targets[0].port, credentials=creds, processes=n_proc,
                  connect_rate=connect_rate, truth=truth, brokers=tuple((x.host, x.port) for x in targets),
                  order_window_s=order_window_s)  # fmt: skip
    log.info("simulate: %d homes, %d broker accounts on %s, %d processes (at most %d sockets each, fd limit %d), "
             "from simulated %s at speed %g", homes, len(creds), ", ".join(x.name for x in targets), n_proc,
             most_sockets, fd_limit, sim_start.isoformat(), speed)  # fmt: skip
    cpu, times = [_broker_cpu(measured)], [time.monotonic()]
    display = _load_display("simulate", homes, times[0])

    last: list[Any] = []

    def tick(snap: Any, running: bool) -> None:
        if running and len(cpu) == 1:
            cpu.append(_broker_cpu(measured))
            times.append(time.monotonic())
        last[:] = [snap]
        display(snap, running)

    with _stop_on_signals() as stop:
        results = run_load(job, seconds=seconds, stop=stop, on_tick=tick)
    if len(cpu) == 1:
        cpu.append(cpu[0])
        times.append(times[0])
    cpu.append(_broker_cpu(measured))
    times.append(time.monotonic())
    record = summary(results, extra={"mix": the_mix.value, "speed": speed})
    record["brokers"] = _broker_record(measured, cpu, times, connections_by_broker(results, job))
    record["max_sockets_per_process"] = most_sockets
    record["homes_online_at_end"] = last[0].homes_online if last else 0  # the last display tick's count
    record["falling_behind"] = record["publish_lag_ms_p99"] > max_lag_ms
    record |= {"homes_requested": homes, "connections_expected": len(creds),
               "complete": len(results) == job.processes}  # fmt: skip
    print(f"simulate: {record['homes']} homes, {record['connections']} connections, "
          f"{record['messages_published']} readings ({record['messages_per_s']}/s), "
          f"{record['incidents_injected']} incidents, publish lag p99 {record['publish_lag_ms_p99']} ms, "
          f"CPU % per process {record['cpu_percent']}", file=sys.stderr)  # fmt: skip
    if json_:
        print(json.dumps(record))
    if len(results) < job.processes:
        raise typer.Exit(1)  # a worker died: its log lines are above
    if record["falling_behind"]:
        print(f"simulate: falling behind (p99 publish lag {record['publish_lag_ms_p99']} ms > {max_lag_ms:g})",
              file=sys.stderr)  # fmt: skip
        raise typer.Exit(1)


def replay(
    casas: Annotated[Path, typer.Option(help="CASAS log (tab/space separated)", exists=True, dir_okay=False)],
    dir_: DirOpt = None,
    home_id: Annotated[
        str, typer.Option(help="the home to replay into (created if missing)")
    ] = "casas-h00001",
    station: Annotated[str | None, typer.Option(help="station of the home (it is placed near it)")] = None,
    speed: Annotated[float, typer.Option(min=0.001, max=1e7, help="log seconds per real second")] = 60.0,
    limit: Annotated[int | None, typer.Option(min=1, help="replay only the first N events")] = None,
    mapping: Annotated[Path | None, typer.Option(help="sensor mapping (.json or .csv)", exists=True)] = None,
    seconds: Annotated[float | None, typer.Option(min=0.1, help="stop after this many real seconds")] = None,
    tz: Annotated[str, typer.Option(help="time zone of the log's timestamps")] = "Asia/Shanghai",
    log_level: Annotated[str, typer.Option()] = "info",
) -> None:
    """Replay a CASAS smart-home log as one home's devices over MQTT, time-shifted to end about now
    (the same as ``eldercare simulate --replay casas:PATH``)."""
    _replay(casas, dir_=dir_, home_id=home_id, station=station, speed=speed, limit=limit, mapping=mapping,
            seconds=seconds, tz=tz, log_level=log_level)  # fmt: skip


def _replay(casas: Path, *, dir_: Path | None, home_id: str, station: str | None, speed: float,
            limit: int | None, mapping: Path | None, seconds: float | None, tz: str, log_level: str) -> None:  # fmt: skip
    from simulators.casas import read_casas
    from simulators.live import tag
    from simulators.replay import INGEST_MAX_AGE, day_shift, load_mapping, stream
    from simulators.replay import replay as build_replay
    from web.settings import load_settings

    configure_logging(log_level)
    log_ = read_casas(casas, tz=_zone(tz))
    for issue in log_.issues[:20]:
        print(f"{casas}: {issue}", file=sys.stderr)
    log_.events = log_.events[:limit] if limit else log_.events
    if not log_.events:
        raise typer.BadParameter(f"{casas}: no events to replay ({log_.summary()})", param_hint="--casas")
    first, last = log_.events[0].ts, log_.events[-1].ts  # whole days: each event keeps its local time of day
    start = first + day_shift(first, last, now=datetime.now(UTC), max_age=INGEST_MAX_AGE)
    result = build_replay(
        log_, home_id=home_id, start=start, mapping=load_mapping(mapping) if mapping else None
    )
    s = load_settings(dir_)
    creds = _credentials(s, [result.home], provision=True, station=station, seed=0)
    prog = _run([tag(result.home, stream(result))], publisher=_publisher(s, creds), speed=speed, start=start,
                seconds=seconds, truth=None, label="replay")  # fmt: skip
    skipped = sum(result.unmapped.values()) + len(result.unfit)
    print(f"replay: {log_.summary()}; {prog.published}/{len(result.readings)} readings published, "
          f"{skipped} events not replayed ({len(result.unmapped)} unmapped sensors)", file=sys.stderr)  # fmt: skip


def register(app: typer.Typer, bench_app: typer.Typer) -> None:
    """Add this domain's commands to the top-level app and its benchmarks to ``eldercare bench``."""
    app.command("simulate")(simulate)
    app.command("replay")(replay)

"""CLI commands of the simulate domain (registered on the one ``eldercare`` app by web/cli.py)."""

from __future__ import annotations

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

    with psycopg.connect(s.db().conninfo()) as conn:
        if provision:
            where = station_location(conn, station) if station else (0.0, 0.0)
            created = register_homes(conn, homes=homes, station_id=station, where=where, seed=seed)
            log.info("provisioned %d new homes (%d already registered)", created, len(homes) - created)
        else:
            ids = [h.home_id for h in homes]
            row = conn.execute("SELECT count(*) FROM home WHERE id = ANY(%s)", (ids,)).fetchone()
            if row is None or row[0] != len(homes):
                raise typer.BadParameter("the simulated homes are not registered: add --provision")
        creds = issue_credentials(conn, homes=homes, broker=s.mqtt())
    time.sleep(0.5)  # let the broker reload its password file before the devices connect
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


def simulate(
    station: Annotated[str, typer.Option(help="station the homes belong to (must exist with --provision)")],
    dir_: DirOpt = None,
    homes: Annotated[int, typer.Option(min=1, max=20000, help="number of simulated homes")] = 10,
    provision: Annotated[
        bool, typer.Option(help="register missing homes, residents and devices first")
    ] = False,
    speed: Annotated[
        float, typer.Option(min=0.001, max=100000, help="simulated seconds per real second")
    ] = 1.0,
    seed: Annotated[int, typer.Option(min=0, help="same seed, same homes, routines and incidents")] = 0,
    incidents: Annotated[str, typer.Option(help=INCIDENTS_HELP)] = "none",
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
    log_level: Annotated[str, typer.Option()] = "info",
) -> None:
    """Simulated homes publishing over MQTT with their devices' own credentials (readings never run ahead
    of the real clock: an accelerated run catches up with now and then continues in real time).
    SIGTERM/SIGINT stop it cleanly."""
    from simulators.engine import HomeSim
    from simulators.errors import SimulatorError
    from simulators.incidents import parse_spec
    from simulators.live import tag
    from simulators.schedule import validate
    from simulators.station import station_homes
    from web.settings import load_settings

    configure_logging(log_level)
    lead = 0.0 if speed <= 1 else (speed - 1) * seconds if seconds is not None else 86400.0
    sim_start = _start(start, tz=_zone(tz), lead=timedelta(seconds=lead))
    n_days = days or 3650
    the_homes = station_homes(station, homes, seed=seed)
    try:
        spec = parse_spec("" if incidents.strip() == "none" else incidents)
        plan = (
            validate(spec, start=sim_start, days=n_days, homes=the_homes, seed=seed)
            if spec.items or spec.rate
            else None
        )
    except SimulatorError as exc:
        raise typer.BadParameter(str(exc), param_hint="--incidents") from None
    s = load_settings(dir_)
    creds = _credentials(s, the_homes, provision=provision, station=station, seed=seed)
    sims = [HomeSim(h, start=sim_start, days=n_days, seed=seed, plan=plan) for h in the_homes]
    streams = [tag(sim.home, sim.stream()) for sim in sims]
    prog = _run(streams, publisher=_publisher(s, creds), speed=speed, start=sim_start, seconds=seconds,
                truth=truth, label="simulate")  # fmt: skip
    print(f"simulate: {homes} homes, {prog.published} readings, {prog.incidents} incidents", file=sys.stderr)


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
    """Replay a CASAS smart-home log as one home's devices over MQTT, time-shifted to end about now."""
    from simulators.casas import read_casas
    from simulators.live import tag
    from simulators.replay import load_mapping, stream
    from simulators.replay import replay as build_replay
    from web.settings import load_settings

    configure_logging(log_level)
    log_ = read_casas(casas, tz=_zone(tz))
    for issue in log_.issues[:20]:
        print(f"{casas}: {issue}", file=sys.stderr)
    log_.events = log_.events[:limit] if limit else log_.events
    if not log_.events:
        raise typer.BadParameter(f"{casas}: no events to replay ({log_.summary()})", param_hint="--casas")
    span = log_.events[-1].ts - log_.events[0].ts
    start = datetime.now(UTC) - min(span, MAX_PAST)
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

"""``eldercare eval …``: detection quality of the rules against simulator ground truth and a real CASAS log."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from monitor.evaluation import Alert
    from web.settings import Settings

BenchDirOpt = Annotated[
    Path | None, typer.Option("--dir", help="use this stack (default: a temporary one)", file_okay=False)
]
TICK_S = 0.5  # the rules' wall-clock tick; on the data clock they also tick each simulated minute
BASE = [sys.executable, "-m", "web.cli"]
SIM_TZ = "Asia/Shanghai"  # simulate's default --tz: its days end at local midnight
# The simulator holds a reading back until the broker has every reading stamped more than this before it
# (simulated seconds): the rules' data clock then never runs ahead of a home's readings by more than this.
ORDER_WINDOW_S = 30.0


def _spawn(args: list[str], log: Path, out: Path | None = None) -> subprocess.Popen[bytes]:
    """Start a process with its stderr in ``log`` and its stdout in ``out`` (the child keeps its copies)."""
    with log.open("wb") as fp, out.open("wb") if out is not None else open(os.devnull, "wb") as fo:
        return subprocess.Popen(args, stdout=fo, stderr=fp, stdin=subprocess.DEVNULL)


def _counters(metrics_url: str) -> dict[str, float]:
    """The rules process's counters (from its /metrics), by name: ``readings``, ``late_readings``..."""
    out: dict[str, float] = {}
    with urllib.request.urlopen(metrics_url, timeout=5) as resp:
        for line in resp.read().decode().splitlines():
            name, _, value = line.partition(" ")
            if name.startswith("eldercare_rules_") and name.endswith("_total"):
                out[name.removeprefix("eldercare_rules_").removesuffix("_total")] = float(value)
    return out


def _readings(metrics_url: str) -> float:
    """The rules process's readings counter (from its /metrics)."""
    return _counters(metrics_url).get("readings", 0.0)


def _caught_up(metrics_url: str, *, quiet_s: float = 3.0, timeout: float = 300) -> float:
    """Wait until the rules have taken no new reading for ``quiet_s`` (several ticks ran meanwhile)."""
    last, since, deadline = -1.0, time.monotonic(), time.monotonic() + timeout
    while time.monotonic() < deadline:
        now = _readings(metrics_url)
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= quiet_s:
            return now
        time.sleep(0.5)
    return last


@contextlib.contextmanager
def _services(s: Settings, tag: str, extra: Sequence[str] = ()) -> Iterator[str]:
    """Ingest and rules (--clock data) as processes; yields the rules' metrics URL."""
    from web.cli_bench import wait_for_log
    from web.stack.proc import free_port

    logs = s.stack_dir / f"eval-{tag}"
    logs.mkdir(exist_ok=True)
    # Sessions end with the run: a reused stack's broker does not keep queueing for a finished evaluation.
    port, d = free_port(), ["--dir", str(s.stack_dir), "--session-expiry-s", "0"]
    args = {
        "ingest": [*BASE, "ingest", *d, "--worker-id", f"eval-{tag}", *extra],
        "rules": [*BASE, "rules", *d, "--worker-id", f"eval-{tag}", "--clock", "data",
                  "--tick-s", str(TICK_S), "--metrics-port", str(port), *extra],
    }  # fmt: skip
    running = {n: _spawn(a, logs / f"{n}.log") for n, a in args.items()}
    try:
        wait_for_log(logs / "rules.log", "rules ready", running["rules"])
        wait_for_log(logs / "ingest.log", "connected", running["ingest"])
        yield f"http://127.0.0.1:{port}/metrics"
    finally:
        for p in running.values():
            p.terminate()
        for p in running.values():
            p.wait(60)


def _run_with_progress(procs: list[subprocess.Popen[bytes]], expected_s: float, label: str) -> None:
    """Wait for ``procs`` with a progress bar (stderr) over the expected duration; fail if one fails."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from web.cli_bench import err

    cols = (TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn())
    with Progress(*cols, console=err) as bar:
        task = bar.add_task(label, total=expected_s)
        t0 = time.monotonic()
        while any(p.poll() is None for p in procs):
            bar.update(task, completed=min(time.monotonic() - t0, expected_s))
            time.sleep(0.5)
        bar.update(task, completed=expected_s)
    if any(p.returncode != 0 for p in procs):
        raise RuntimeError(f"{label}: a process failed (exit codes {[p.returncode for p in procs]})")


def _alerts(s: Settings, homes: list[str]) -> list[Alert]:
    import psycopg

    from monitor.evaluation import Alert

    with psycopg.connect(s.db().conninfo()) as conn:
        rows = conn.execute(
            "SELECT id, home_id, kind, detected_at, condition_cleared_at, reason_en FROM alert"
            " WHERE home_id = ANY(%s) ORDER BY id",
            (homes,),
        ).fetchall()
    return [Alert(r[0], r[1], r[2], r[3], r[4], r[5]) for r in rows]


def _register(s: Settings, station: str, *, seed: int, homes: int) -> tuple[str, list[str]]:
    """Create the station and register its simulated homes before the rules start.

    Home ids (hence the incidents drawn) follow the station id: ``station`` when it is new (a fresh stack
    gives the same run for the same seed), else ``station`` plus a random tag so that runs never mix.
    """
    import psycopg

    from devices import registry
    from simulators.station import register_homes, station_homes

    with psycopg.connect(s.db().conninfo()) as conn:
        if conn.execute("SELECT 1 FROM station WHERE id = %s", (station,)).fetchone() is not None:
            station = f"{station}-{uuid.uuid4().hex[:6]}"
        registry.add_station(conn, id=station, name="eval", lat=29.72, lon=106.63, travel_mode="ebike")
        the_homes = station_homes(station, homes, seed=seed)
        register_homes(conn, homes=the_homes, station_id=station, where=(29.72, 106.63), seed=seed)
        conn.commit()
    return station, [h.home_id for h in the_homes]


def _simulate(s: Settings, station: str, *, seed: int, homes: int, quiet: int, spec: str, speed: float,
              days: int, start: datetime, truth: Path, log: Path) -> subprocess.Popen[bytes]:  # fmt: skip
    """One simulate process for every home (incident and quiet ones): one simulated clock for all.

    The rules' data clock is the newest reading time (``monitor.runner.clock``); two publishers whose
    clocks drift apart under load made the slower one's homes look inactive to the rules. One process
    publishes in time order, so falling behind the wall clock only lengthens the run: it is reported
    (``simulate.json``, in the conditions), not a failure.
    """
    args = [*BASE, "simulate", "--dir", str(s.stack_dir), "--station", station, "--homes", str(homes),
            "--quiet-homes", str(quiet), "--processes", "1", "--provision", "--speed", str(speed),
            "--seed", str(seed), "--incidents", spec, "--truth", str(truth), "--days", str(days),
            "--start", start.isoformat(), "--max-lag-ms", "1e9", "--order-window-s", str(ORDER_WINDOW_S), "--json", "--log-level", "warning"]  # fmt: skip
    return _spawn(args, log, log.with_suffix(".json"))


def _sim_record(path: Path) -> dict[str, Any]:
    """The simulate run's publish rate and lag (what it printed with --json), or {} if it printed none."""
    lines = [ln for ln in path.read_text().splitlines() if ln.startswith("{")] if path.exists() else []
    rec: dict[str, Any] = json.loads(lines[-1]) if lines else {}
    keys = (
        "messages_published",
        "messages_unacknowledged",
        "messages_per_s",
        "publish_lag_ms_p50",
        "publish_lag_ms_p99",
        "seconds",
    )
    return {k: rec[k] for k in keys if k in rec}


def _learn(
    s: Settings, station: str, *, seed: int, homes: int, start: datetime, days: int
) -> dict[str, float]:
    """Baselines learned from ``days`` earlier simulated days of each resident (none when 0)."""
    import psycopg

    from simulators.station import station_homes
    from web.eval_history import learn_baselines

    if days <= 0:
        return {"homes": 0, "days": 0, "seconds": 0.0}
    with psycopg.connect(s.db().conninfo()) as conn:
        return learn_baselines(conn, groups=[(seed, station_homes(station, homes, seed=seed))], start=start,
                               days=days)  # fmt: skip


def _local_midnight(days_ago: int) -> datetime:
    """Midnight in the simulator's default zone ``days_ago`` days before today: whole simulated days."""
    from zoneinfo import ZoneInfo

    today = datetime.now(ZoneInfo(SIM_TZ)).replace(hour=0, minute=0, second=0, microsecond=0)
    return today - timedelta(days=days_ago)


def _check(homes: int, days: int, speed: float | None) -> float:
    if homes < 2:
        raise typer.BadParameter("at least 2 (half with incidents, half without)", param_hint="--homes")
    if homes > 1500:  # one simulate process (one clock) holds every home: at most ~18,000 sockets
        raise typer.BadParameter("at most 1,500 (one simulator process, one clock)", param_hint="--homes")
    if not 1 <= days <= 5:
        raise typer.BadParameter("1 to 5 days (ingest refuses readings a week old)", param_hint="--days")
    if speed is not None and speed < 10:
        raise typer.BadParameter("at least 10 simulated seconds per real second", param_hint="--speed")
    return speed if speed is not None else max(600.0, days * 86400 / 120)


def detection(
    dir_: BenchDirOpt = None,
    homes: Annotated[int, typer.Option(help="simulated homes (half get incidents)")] = 20,
    days: Annotated[int, typer.Option(help="simulated days (1-5)")] = 2,
    seed: Annotated[int, typer.Option(min=0, help="seed of homes and incidents")] = 1,
    speed: Annotated[
        float | None, typer.Option(help="simulated s per real s (default: ~2 min a run)")
    ] = None,
    rate: Annotated[
        float, typer.Option(min=0.1, max=10, help="incidents per home-day (incident homes)")
    ] = 1.0,
    history_days: Annotated[
        int, typer.Option(min=0, max=28, help="days of routine learned before the run (0: defaults)")
    ] = 14,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Simulated homes with injected incidents → broker → ingest → rules; alerts scored against the truth."""
    from monitor.evaluation import parse_truth, score
    from monitor.runner.clock import DATA_TICK_S
    from web.cli_bench import bench_stack

    x = _check(homes, days, speed)
    tag, t0 = uuid.uuid4().hex[:6], time.monotonic()
    start = _local_midnight(days)
    quiet = homes // 2  # the last half: incident-free controls, simulated by the same process
    with bench_stack(dir_) as s:
        station, ids = _register(s, f"eval-s{seed}", seed=seed, homes=homes)
        learned = _learn(s, station, seed=seed, homes=homes, start=start, days=history_days)
        work = s.stack_dir / f"eval-{tag}"
        with _services(s, tag) as metrics:
            proc = _simulate(s, station, seed=seed, homes=homes, quiet=quiet, spec=f"random:{rate}", speed=x,
                             days=days, start=start, truth=work / "truth.jsonl", log=work / "simulate.log")  # fmt: skip
            _run_with_progress([proc], days * 86400 / x, f"simulating {homes} homes × {days} d at {x:g}×")
            readings = _caught_up(metrics)
            counted = _counters(metrics)
        alerts = _alerts(s, ids)
        incidents = parse_truth((work / "truth.jsonl").read_text().splitlines())
        sim = _sim_record(work / "simulate.json")
    incident_homes, quiet_homes = ids[: homes - quiet], ids[homes - quiet :]
    until = start + timedelta(days=days)
    result = score(incidents, alerts, quiet_homes=quiet_homes, days=days, until=until)
    result["conditions"] = {
        "homes": homes, "incident_homes": len(incident_homes), "quiet_homes": len(quiet_homes), "days": days,
        "seed": seed, "speed": x, "incident_rate_per_home_day": rate, "rules_tick_s": TICK_S,
        "rules_tick_sim_min": round(min(TICK_S * x, DATA_TICK_S) / 60, 2), "readings": int(readings), "baselines": learned,
        "cpu_count": os.cpu_count(), "wall_s": round(time.monotonic() - t0, 1), "simulate": sim,
        "order_window_sim_s": ORDER_WINDOW_S,
        # Readings that reached the rules more than a data tick behind the data clock (out of order):
        # the rules judged their home without them for that long (see monitor.runner.clock).
        "late_readings": int(counted.get("late_readings", 0)), "late_max_s": counted.get("late_max_s", 0.0),
    }  # fmt: skip
    _emit(result, as_json)


def _emit(result: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(result, ensure_ascii=False, default=str))
        return
    for k, v in result.items():
        print(f"{k:36} {json.dumps(v, ensure_ascii=False, default=str)}")


def replay_eval(
    casas: Annotated[
        list[Path],
        typer.Option(help="CASAS log; repeat for several homes in one run", exists=True, dir_okay=False),
    ],
    dir_: BenchDirOpt = None,
    learn_days: Annotated[
        int,
        typer.Option(
            min=0, max=60, help="first N whole days imported as history, baseline learned from them"
        ),
    ] = 0,
    baseline: Annotated[
        str, typer.Option(help="learned (from the history) | defaults (population defaults)")
    ] = "learned",
    heartbeat: Annotated[
        list[str] | None, typer.Option(help="KIND:MINUTES ambient reports (temperature, battery); repeatable")
    ] = None,
    inject: Annotated[
        list[str] | None,
        typer.Option(help="collapse@WHEN[:ROOM], away@FROM/UNTIL or random:N (log's local time); repeatable"),
    ] = None,
    away: Annotated[
        list[str] | None,
        typer.Option(help="FROM/UNTIL: the resident is away (same as --inject away@FROM/UNTIL)"),
    ] = None,
    seed: Annotated[int, typer.Option(min=0, help="seed of the random collapses")] = 1,
    resolve_after_min: Annotated[
        float, typer.Option(min=1, help="the duty officer resolves an alert this long (data time) after it")
    ] = 30.0,
    speed: Annotated[
        float | None, typer.Option(min=1, help="log s per real s (default: ~2 min a run)")
    ] = None,
    tz: Annotated[str, typer.Option(help="time zone of the logs' timestamps")] = SIM_TZ,
    truth: Annotated[Path | None, typer.Option(help="write the injected incidents here (JSON lines)")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Real CASAS logs → history (first N days) + live replay with injected collapses through broker → ingest
    → rules; scored: time to detect, found share, false alarms per home-day, every alert with its reason.
    真实传感器日志回放评测：注入跌倒/失去活动事件，统计发现时间与误报率。"""
    from zoneinfo import ZoneInfo

    from devices import registry
    from monitor.replay_score import score_replay
    from simulators.errors import SimulatorError
    from simulators.inject import parse_heartbeat, parse_inject
    from web.cli_bench import bench_stack
    from web.eval_replay import DutyOfficer, detections, plan_log, publish, set_up, truth_lines

    if baseline not in ("learned", "defaults"):
        raise typer.BadParameter("learned or defaults", param_hint="--baseline")
    tag, t0, now, zone = uuid.uuid4().hex[:6], time.monotonic(), datetime.now(UTC), ZoneInfo(tz)
    try:
        spec = parse_inject([*(inject or []), *(f"away@{a}" for a in away or [])], tz=zone)
        beats = [parse_heartbeat(h) for h in heartbeat or []]
        plans = [plan_log(p, i, tag=tag, spec=spec, learn_days=learn_days, heartbeat=beats, seed=seed, tz=zone,
                          now=now) for i, p in enumerate(casas)]  # fmt: skip
    except (SimulatorError, ValueError) as exc:
        raise typer.BadParameter(str(exc), param_hint="--inject / --heartbeat / --casas") from None
    copies = [c for p in plans for c in p.copies]
    incidents = [i for c in copies for i in c.incidents]
    homes = [c.home.home_id for c in copies]
    start, end = min(c.live_start for c in copies), max(c.live_end for c in copies)
    x = speed if speed is not None else max(60.0, (end - start).total_seconds() / 120)
    past_h = int((now - start).total_seconds() // 3600) + 24  # the live part's age: ingest's window covers it
    import psycopg

    with bench_stack(dir_) as s:
        with psycopg.connect(s.db().conninfo()) as conn:
            registry.add_station(
                conn, id=f"eval-{tag}", name="eval", lat=29.72, lon=106.63, travel_mode="ebike"
            )
            conn.commit()
            learned = set_up(conn, plans, station=f"eval-{tag}", learn=baseline == "learned")
        work = s.stack_dir / f"eval-{tag}"
        work.mkdir(exist_ok=True)
        truth_path = truth or work / "truth.jsonl"
        shift_of = {c.home.home_id: p.shift for p in plans for c in p.copies}
        truth_path.write_text("".join(line + "\n" for line in truth_lines(incidents, shift_of)))
        officer = DutyOfficer(s, homes, incidents, timedelta(minutes=resolve_after_min))
        with _services(s, tag, extra=["--max-past-hours", str(past_h)]) as metrics, officer:
            published = publish(s, copies, speed=x, officer=officer, order_window_s=ORDER_WINDOW_S,
                                label=f"replaying {len(casas)} log(s) × {len(copies)} homes at {x:g}×")  # fmt: skip
            readings = _caught_up(metrics)
            counted = _counters(metrics)
        with psycopg.connect(s.db().conninfo()) as conn:
            found = detections(conn, homes)
    home_days = sum((c.live_end - c.live_start).total_seconds() for c in copies) / 86400
    result = score_replay(incidents, found, home_days=home_days)
    result["truth"] = str(truth_path)
    result["conditions"] = {
        "logs": [p.record for p in plans], "homes": len(copies), "learn_days": learn_days, "baseline": baseline,
        "baselines": learned, "heartbeat": heartbeat or [], "inject": inject or [], "away": away or [],
        "seed": seed, "speed": x, "resolve_after_min": resolve_after_min, "duty_officer": officer.resolved,
        "duty_officer_errors": officer.errors[:5], "rules_tick_s": TICK_S, "readings": int(readings),
        "published": published, "late_readings": int(counted.get("late_readings", 0)),
        "found_within_h": 4, "max_past_hours": past_h, "tz": tz,
        "cpu_count": os.cpu_count(), "wall_s": round(time.monotonic() - t0, 1),
        "counting": "time to detect: from the collapse to the first inactivity, fall, long-bathroom or not-up "
        "alert on that home (raised, reopened or returned) within 4 h; found_share: of the injected collapses. "
        "false alarms: every alert raise/return not within [start - 1 min, end + 30 min] of an injected "
        "incident on its home and not a device-health kind; home-days: the live (replayed) days summed over homes.",
    }  # fmt: skip
    _emit(result, as_json)


def register(app: typer.Typer, bench_app: typer.Typer) -> None:
    """Add ``eldercare eval detection`` and ``eldercare eval replay`` (``bench_app`` gets nothing)."""
    eval_app = typer.Typer(
        help="Detection quality: alerts scored against known incidents.", no_args_is_help=True
    )
    eval_app.command("detection")(detection)
    eval_app.command("replay")(replay_eval)
    app.add_typer(eval_app, name="eval")

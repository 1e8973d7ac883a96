"""``eldercare devices …`` and ``eldercare ingest`` / ``maintain``: registry, credentials and the data path."""

from __future__ import annotations

import json
import logging
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import psycopg
import typer

from devices import provisioning, registry
from devices.types import DeviceKind, Room
from web.settings import load_settings

devices_app = typer.Typer(
    no_args_is_help=True, help="Devices: register, list, provision and revoke broker credentials."
)

DirOpt = Annotated[Path | None, typer.Option("--dir", help="stack directory", file_okay=False)]
MetricsPortOpt = Annotated[
    int | None, typer.Option(min=0, max=65535, help="serve /healthz /readyz /metrics here (0: a free port)")
]


def configure_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        format="ts=%(asctime)s level=%(levelname)s logger=%(name)s msg=%(message)s",
    )


def _connect(dir_: Path | None) -> psycopg.Connection:
    return psycopg.connect(load_settings(dir_).db().conninfo())


@devices_app.command("add")
def devices_add(
    device_id: Annotated[str, typer.Option("--id", help="device id (also its broker username)")],
    kind: Annotated[DeviceKind, typer.Option(help="device kind")],
    home: Annotated[str | None, typer.Option(help="home id")] = None,
    room: Annotated[Room | None, typer.Option(help="room")] = None,
    gateway: Annotated[str | None, typer.Option(help="gateway id, for a zigbee2mqtt-bridged device")] = None,
    z2m_name: Annotated[str | None, typer.Option(help="zigbee2mqtt friendly name on that gateway")] = None,
    dir_: DirOpt = None,
) -> None:
    """Register a device."""
    with _connect(dir_) as conn:
        registry.add_device(
            conn,
            id=device_id,
            home_id=home,
            kind=kind,
            room=room,
            gateway_id=gateway,
            z2m_friendly_name=z2m_name,
        )
    print(f"added {device_id}")


@devices_app.command("list")
def devices_list(
    home: Annotated[str | None, typer.Option(help="only this home")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    dir_: DirOpt = None,
) -> None:
    """List devices with their credential status."""
    with _connect(dir_) as conn:
        rows = registry.list_devices(conn, home_id=home)
    if as_json:
        print(json.dumps([vars(r) for r in rows], default=str))
        return
    for r in rows:
        bridge = f" via {r.gateway_id}:{r.z2m_friendly_name}" if r.gateway_id else ""
        print(f"{r.id:28} {r.kind:14} {r.home_id or '-':12} {r.room or '-':12} {r.status}{bridge}")


@devices_app.command("import")
def devices_import(
    file: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, readable=True, help="CSV file with a header")
    ],
    entity: Annotated[str, typer.Option(help="what the rows are: stations, homes, residents or devices")],
    dir_: DirOpt = None,
) -> None:
    """Import rows from CSV in one transaction: any bad row is reported (with its line) and nothing is imported."""
    from devices.csv_import import import_csv

    try:
        text = file.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise typer.BadParameter(f"{file} is not UTF-8 text (byte {exc.start})") from None
    with _connect(dir_) as conn:
        report = import_csv(conn, entity=entity, text=text)  # type: ignore[arg-type]
    print(f"imported {report.imported} {entity} from {file}")


@devices_app.command("health")
def devices_health(
    home: Annotated[str, typer.Option(help="home id")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
    dir_: DirOpt = None,
) -> None:
    """Each device of a home: online/offline (and why), last seen, battery."""
    from devices.health import home_health

    with _connect(dir_) as conn:
        rows = home_health(conn, home_id=home, now=datetime.now(UTC))
    if as_json:
        print(json.dumps([asdict(r) for r in rows], default=str))
        return
    for r in rows:
        battery = f"{r.battery:.0f}%" if r.battery is not None else "-"
        seen = r.last_seen.isoformat(timespec="seconds") if r.last_seen else "-"
        print(
            f"{r.device_id:28} {r.kind:14} {r.state:10} {seen:25} {battery:>5}{' LOW' if r.battery_low else ''}  {r.reason}"
        )


@devices_app.command("provision")
def devices_provision(device_id: Annotated[str, typer.Argument()], dir_: DirOpt = None) -> None:
    """Create broker credentials; the password is printed once and stored only hashed."""
    s = load_settings(dir_)
    with _connect(dir_) as conn:
        creds = provisioning.provision(conn, device_id=device_id, broker=s.mqtt())
    print(json.dumps({"device_id": creds.device_id, "username": creds.username, "password": creds.password}))


@devices_app.command("revoke")
def devices_revoke(device_id: Annotated[str, typer.Argument()], dir_: DirOpt = None) -> None:
    """Remove a device's credentials; the broker cuts it off at once."""
    s = load_settings(dir_)
    with _connect(dir_) as conn:
        provisioning.revoke(conn, device_id=device_id, broker=s.mqtt())
    print(f"revoked {device_id}")


def ingest(
    dir_: DirOpt = None,
    worker_id: Annotated[
        str, typer.Option(help="worker id; its MQTT client id is ingest-<id> (keep it stable)")
    ] = "1",
    shared_group: Annotated[
        str,
        typer.Option(
            help="MQTT v5 shared-subscription group ($share/<group>/…) to run several workers; '' (default) "
            "a plain subscription: Mosquitto 2.0 can lose a message in flight to a shared subscription "
            "when the broker restarts (see docs/operations.md)"
        ),
    ] = "",
    session_expiry_s: Annotated[
        int, typer.Option(min=0, help="broker keeps this worker's session while away")
    ] = 86400,
    batch_size: Annotated[int, typer.Option(min=1, max=50000)] = 2000,
    batch_age_ms: Annotated[int, typer.Option(min=1, max=10000)] = 200,
    spool_dir: Annotated[
        Path | None, typer.Option(help="spool directory (default: <stack dir>/spool)")
    ] = None,
    spool_max_mb: Annotated[int, typer.Option(min=1)] = 512,
    max_past_hours: Annotated[float, typer.Option(min=0, help="older readings are dead-lettered")] = 24 * 7,
    max_future_s: Annotated[
        float, typer.Option(min=0, help="readings further ahead are dead-lettered")
    ] = 300,
    log_level: Annotated[str, typer.Option()] = "info",
    metrics_port: MetricsPortOpt = None,
) -> None:
    """MQTT → TimescaleDB ingest worker (run N of them for scale-out)."""
    from monitor.ingest.pipeline import SkewLimits
    from monitor.ingest.run import run
    from monitor.ingest.worker import IngestConfig

    configure_logging(log_level)
    s = load_settings(dir_)
    cfg = IngestConfig(
        worker_id=worker_id,
        shared_group=shared_group or None,
        session_expiry_s=session_expiry_s,
        batch_size=batch_size,
        batch_age_s=batch_age_ms / 1000,
        spool_dir=spool_dir or s.stack_dir / "spool",
        spool_max_bytes=spool_max_mb * 2**20,
        skew=SkewLimits(past=timedelta(hours=max_past_hours), future=timedelta(seconds=max_future_s)),
    )
    run(s.mqtt(), s.db(), cfg, metrics_port=metrics_port)


def maintain(
    dir_: DirOpt = None,
    keep_days: Annotated[float, typer.Option(min=0.01, help="keep readings this many days")] = 90,
    dead_letter_days: Annotated[
        float | None,
        typer.Option(
            min=0.01, help="keep dead letters this many days [default: ELDERCARE_DEAD_LETTER_DAYS, 30]"
        ),
    ] = None,
    interval_s: Annotated[float, typer.Option(min=1)] = 300,
    baselines: Annotated[
        int, typer.Option(min=0, help="residents' baselines relearned per pass at most")
    ] = 200,
    once: Annotated[bool, typer.Option(help="run once and exit")] = False,
    log_level: Annotated[str, typer.Option()] = "info",
    metrics_port: MetricsPortOpt = None,
) -> None:
    """Retention (drop_chunks; dead letters), the hourly activity rollup and the residents' baselines (each
    relearned daily from their last 28 days), on a timer."""
    from monitor.maintenance import run as maintenance

    configure_logging(log_level)
    s = load_settings(dir_)
    cfg = maintenance.MaintainConfig(
        keep=timedelta(days=keep_days),
        dead_letter_keep=timedelta(days=dead_letter_days or s.dead_letter_days),
        interval_s=interval_s,
        baselines=baselines,
    )
    if once:
        print(json.dumps(vars(maintenance.once(s.db(), cfg))))
        return
    maintenance.run(s.db(), cfg, metrics_port=metrics_port)

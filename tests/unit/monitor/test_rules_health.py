from datetime import timedelta

from monitor.rules import AlertKind, Severity
from tests.unit.monitor.rules_helpers import at, kinds, make_home


def test_heartbeat_device_offline_past_its_kind_timeout() -> None:
    home = make_home()
    home.read("gas-1", at(1, 10), heartbeat=True)
    home.read("m-kit", at(1, 10), heartbeat=True)
    for m in range(10, 60, 10):
        home.read("m-kit", at(1, 10, m), heartbeat=True)
    assert home.tick(at(1, 11, 29)) == []
    (c,) = home.tick(at(1, 11, 30))  # gas detectors: 90 min
    assert c.kind == AlertKind.DEVICE_OFFLINE
    assert c.evidence["devices"] == ["gas-1"]
    assert kinds(home.read("gas-1", at(1, 11, 35), heartbeat=True), cleared=True) == ["device_offline"]


def test_event_only_sensor_is_never_timed_out() -> None:
    home = make_home()
    home.read("m-bed", at(1, 10), occupancy=True)
    home.read("m-kit", at(1, 10), heartbeat=True)
    for h in range(11, 24):
        home.read("m-kit", at(1, h), heartbeat=True)
    assert "device_offline" not in kinds(home.ticks(at(1, 10), at(1, 23, 30), step_min=30))


def test_a_temperature_sensor_that_stops_reporting_is_offline_without_heartbeats() -> None:
    home = make_home()
    for m in range(0, 60, 30):
        home.read("temp-1", at(1, 10, m), temperature=21.0)  # reports every 30 min, no heartbeat flag
    for h in range(10, 14):
        home.read("m-kit", at(1, h), heartbeat=True)
    assert "device_offline" not in kinds(home.ticks(at(1, 10, 30), at(1, 12, 59), step_min=1))
    (c,) = home.tick(at(1, 13))  # 150 min after its last report
    assert (c.kind, c.evidence["devices"]) == (AlertKind.DEVICE_OFFLINE, ["temp-1"])


def test_a_water_meter_is_timed_out_only_once_it_showed_it_reports_on_a_schedule() -> None:
    on_use = make_home()
    on_use.read("water-1", at(1, 10), water_total_l=10.0)
    on_use.read("water-1", at(1, 10, 5), water_total_l=12.0)  # reports only when water runs
    for h in range(10, 16):
        on_use.read("m-kit", at(1, h), heartbeat=True)
    assert "device_offline" not in kinds(on_use.ticks(at(1, 10, 5), at(1, 15, 30), step_min=30))
    timed = make_home()
    timed.read("water-1", at(1, 10), water_total_l=10.0)
    timed.read("water-1", at(1, 10, 15), water_total_l=10.0)  # the same total again: a scheduled report
    for h in range(10, 14):
        timed.read("m-kit", at(1, h), heartbeat=True)
    assert "device_offline" not in kinds(timed.ticks(at(1, 10, 15), at(1, 12, 40), step_min=5))
    assert "device_offline" in kinds(timed.tick(at(1, 12, 45)))  # 150 min


def test_gateway_offline_is_reported_once_for_its_devices() -> None:
    home = make_home()
    home.read("m-liv", at(1, 10), heartbeat=True)  # behind gw-1
    home.read("smoke-1", at(1, 10), heartbeat=True)  # behind gw-1
    for m in range(0, 300, 5):
        t = at(1, 10 + m // 60, m % 60)
        if m % 10 == 0:
            home.read("m-kit", t, heartbeat=True)  # native, keeps reporting
        home.tick(t)
    assert kinds(home.log) == ["gateway_offline"]  # not also device_offline for m-liv and smoke-1
    c = next(c for c in home.log if c.kind == AlertKind.GATEWAY_OFFLINE)
    assert c.evidence["devices"] == ["gw-1"]
    assert c.detected_at == at(1, 10, 45)


def test_a_gateway_whose_devices_heartbeat_every_half_hour_stays_online() -> None:
    home = make_home()
    for m in range(0, 600, 30):
        t = at(1, 10 + m // 60, m % 60)
        home.read("m-liv" if m % 60 else "smoke-1", t, heartbeat=True)  # both behind gw-1, nothing else
        home.tick(t + timedelta(minutes=29))
    assert "gateway_offline" not in kinds(home.log)


def test_low_battery_raised_and_cleared() -> None:
    home = make_home()
    (c,) = home.read("m-bath", at(1, 10), battery=9)
    assert (c.kind, c.severity, c.evidence["devices"]) == (AlertKind.BATTERY_LOW, Severity.LOW, ["m-bath"])
    assert home.read("m-bath", at(1, 11), battery=17) == []  # hysteresis: not yet "ok"
    assert kinds(home.read("m-bath", at(1, 12), battery=100), cleared=True) == ["battery_low"]
    assert kinds(home.read("smoke-1", at(1, 13), battery_low=True)) == ["battery_low"]


def test_silent_home_is_not_resident_away() -> None:
    home = make_home()
    home.read("m-kit", at(1, 10), heartbeat=True)
    home.read("gas-1", at(1, 10), heartbeat=True)
    home.motion("m-liv", at(1, 10))
    out = home.ticks(at(1, 10), at(1, 11, 30))
    assert kinds(out) == ["home_silent"]
    assert next(c for c in out if c.kind == AlertKind.HOME_SILENT).severity == Severity.HIGH
    away = make_home(away=True)
    away.read("m-kit", at(1, 10), heartbeat=True)
    (c,) = away.ticks(at(1, 10), at(1, 11, 30))
    assert (c.kind, c.severity) == (AlertKind.HOME_SILENT, Severity.MEDIUM)
    # Heartbeats still arriving while nobody moves: not a device problem.
    alive = make_home(away=True)
    for m in range(0, 600, 20):
        alive.read("m-kit", at(1, 10 + m // 60, m % 60), heartbeat=True)
    assert alive.log == []

"""Scoring a real-log replay: time to detect per incident and room, false alarms per home-day, each verdict."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from monitor.replay_score import Detection, Injected, score_replay

T = datetime(2026, 12, 1, 2, tzinfo=UTC)


def _inc(i: int, home: str, room: str, start: datetime) -> Injected:
    return Injected(f"{home}#{i}", home, "collapse", room, start, start + timedelta(hours=4))


def test_score_counts_found_delays_and_false_alarms() -> None:
    incs = [_inc(1, "a", "kitchen", T), _inc(2, "a", "bathroom", T + timedelta(hours=6)),
            _inc(3, "b", "kitchen", T)]  # fmt: skip
    dets = [
        Detection(1, "a", "inactivity", T + timedelta(minutes=40), "raised", "no movement (kitchen)"),
        Detection(
            1, "a", "inactivity", T + timedelta(hours=6, minutes=25), "returned", "no movement (bathroom)"
        ),
        Detection(2, "a", "no_water", T + timedelta(hours=2), "raised", "explained by the collapse"),
        Detection(3, "b", "inactivity", T + timedelta(hours=5), "raised", "too late: after 4 h"),
        Detection(4, "b", "device_offline", T + timedelta(hours=9), "raised", "a device"),
        Detection(5, "b", "inactivity", T + timedelta(hours=20), "raised", "a false alarm"),
    ]
    r = score_replay(incs, dets, home_days=4.0)
    assert r["incidents"] == 3
    assert r["found_share"] == 0.667
    assert r["per_room"]["kitchen"]["found"] == 1
    assert r["per_room"]["bathroom"]["time_to_detect_min_p50"] == 25.0
    assert [i["time_to_detect_min"] for i in r["per_incident"]] == [40.0, None, 25.0]
    verdicts = [a["verdict"] for a in r["alerts"]]
    # b's alert 5 h after its collapse: not found (4 h) and not explained (end + 30 min): a false alarm.
    assert verdicts == ["a#1", "a#1", "false_alarm", "a#2", "device_fault", "false_alarm"]
    assert r["false_alarms"] == 2
    assert r["false_alarms_per_home_day"] == 0.5
    assert r["device_fault_alerts"] == 1

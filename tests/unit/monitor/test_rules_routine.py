from monitor.rules import AlertKind, Baseline, HomeState, ResidentSettings, Severity
from tests.unit.monitor.rules_helpers import Home, at, kinds, make_home


def test_inactivity_fires_at_the_room_and_hour_limit_and_clears_on_movement() -> None:
    home = make_home()
    home.motion("m-liv", at(1, 10))  # default living room by day: 150 min
    assert home.ticks(at(1, 10, 5), at(1, 12, 29), step_min=1) == []
    (c,) = home.tick(at(1, 12, 30))
    assert (c.kind, c.severity, c.started_at) == (AlertKind.INACTIVITY, Severity.HIGH, at(1, 10))
    assert c.evidence["room"] == "living_room"
    assert c.evidence["limit_min"] == 150
    assert "客厅" in c.reason_zh
    assert "living room" in c.reason_en
    assert home.tick(at(1, 12, 45)) == []  # raised once
    assert kinds(home.read("m-kit", at(1, 13), occupancy=True), cleared=True) == ["inactivity"]


def test_still_in_bathroom_is_urgent_sooner_than_bedroom_at_night() -> None:
    bath = make_home()
    bath.motion("m-bath", at(1, 23))
    (c,) = bath.ticks(at(1, 23), at(2, 0, 30))
    assert c.kind == AlertKind.INACTIVITY
    assert c.severity == Severity.CRITICAL
    assert c.detected_at == at(1, 23, 45)  # 45 min at night
    day = make_home()
    day.motion("m-bath", at(1, 10))
    (c,) = day.ticks(at(1, 10), at(1, 11))
    assert c.detected_at == at(1, 10, 30)  # shorter by day: 30 min
    bed = make_home()
    bed.motion("m-bed", at(1, 23))
    bed.read("bed-1", at(1, 23, 1), occupancy=True)
    assert "inactivity" not in kinds(bed.ticks(at(1, 23), at(2, 9, 55)))  # a night's sleep is normal
    assert kinds(bed.tick(at(2, 10, 5))) == ["inactivity"]  # 11 h in bed without a single movement is not


def test_still_in_the_bedroom_off_the_bed_is_urgent_but_not_without_a_bed_sensor() -> None:
    floor = make_home()
    floor.read("bed-1", at(2, 5, 59), occupancy=False)  # got up
    floor.motion("m-bed", at(2, 6))
    (c,) = floor.ticks(at(2, 6), at(2, 8))
    assert (c.kind, c.detected_at, c.evidence["key"]) == (AlertKind.INACTIVITY, at(2, 7), "bedroom")
    by_day = make_home()
    by_day.motion("m-bed", at(2, 10))
    (c,) = by_day.ticks(at(2, 10), at(2, 12))
    assert c.detected_at == at(2, 10, 45)
    no_bed = make_home(without=("bed-1",))
    no_bed.motion("m-bed", at(1, 23))
    assert "inactivity" not in kinds(no_bed.ticks(at(1, 23), at(2, 9, 55)))  # no bed sensor: sleep
    assert kinds(no_bed.tick(at(2, 10))) == ["inactivity"]


def test_away_mode_suppresses_routine_alarms_and_clears_open_ones() -> None:
    away = make_home(away=True)
    away.motion("m-bath", at(1, 10))
    assert away.ticks(at(1, 10), at(3, 10), step_min=30) == []
    home = make_home()
    home.motion("m-bath", at(1, 10))
    assert kinds(home.tick(at(1, 11))) == ["inactivity"]
    home.settings = ResidentSettings(hospital=True)
    assert kinds(home.tick(at(1, 11, 5)), cleared=True) == ["inactivity"]


def test_disabled_rule_and_threshold_override() -> None:
    off = make_home(rules={"inactivity": {"enabled": False}})
    off.motion("m-bath", at(1, 10))
    assert "inactivity" not in kinds(off.ticks(at(1, 10), at(1, 14)))
    fixed = make_home(rules={"inactivity": {"threshold_min": 20}})
    fixed.motion("m-liv", at(1, 10))
    assert fixed.tick(at(1, 10, 19)) == []
    assert kinds(fixed.tick(at(1, 10, 21))) == ["inactivity"]


def test_sensitivity_scales_the_limit() -> None:
    keen = make_home(sensitivity=2.0)
    keen.motion("m-liv", at(1, 10))
    assert keen.tick(at(1, 11, 14)) == []
    assert kinds(keen.tick(at(1, 11, 15))) == ["inactivity"]


def test_skewed_readings_never_move_timers_backwards() -> None:
    home = make_home()
    home.motion("m-liv", at(1, 10))
    home.read("m-liv", at(1, 8), now=at(1, 10, 5), occupancy=True)  # late by two hours
    assert home.state.last_activity_at == at(1, 10)
    home.read("m-kit", at(1, 20), now=at(1, 10, 10), occupancy=True)  # stamped ten hours ahead
    assert home.state.last_activity_at == at(1, 10, 10)
    assert home.tick(at(1, 10, 54)) == []  # kitchen by day allows 45 min from 10:10
    (c,) = home.tick(at(1, 10, 55))
    assert c.kind == AlertKind.INACTIVITY
    assert c.started_at == at(1, 10, 10)
    assert c.evidence["room"] == "kitchen"


def test_state_json_round_trip_mid_timer_fires_on_time() -> None:
    home = make_home()
    home.motion("m-liv", at(1, 10))
    assert home.ticks(at(1, 10), at(1, 11)) == []
    home.state = HomeState.from_json(home.state.to_json())  # the rules process restarted
    assert home.tick(at(1, 12, 29)) == []
    assert kinds(home.tick(at(1, 12, 30))) == ["inactivity"]
    home.state = HomeState.from_json(home.state.to_json())
    assert home.tick(at(1, 12, 40)) == []  # still open after the restart: not raised twice


def test_not_up_by_usual_time_plus_margin() -> None:
    home = make_home()
    home.tick(at(1, 22))
    home.motion("m-bed", at(1, 23))
    home.read("bed-1", at(1, 23, 1), occupancy=True)
    home.read("bed-1", at(2, 2, 59), occupancy=False)
    home.motion("m-bath", at(2, 3))  # a night-time toilet visit is not getting up
    home.motion("m-bed", at(2, 3, 10))
    home.read("bed-1", at(2, 3, 11), occupancy=True)
    out = home.ticks(at(2, 3, 15), at(2, 9, 25))
    assert "not_up" not in kinds(out)
    (c,) = [c for c in home.tick(at(2, 9, 30)) if c.kind == AlertKind.NOT_UP]
    assert c.severity == Severity.HIGH
    assert "起床" in c.reason_zh
    assert kinds(home.read("m-kit", at(2, 9, 40), occupancy=True), cleared=True) == ["not_up"]


def test_up_early_raises_no_not_up_and_personal_wake_time_moves_the_deadline() -> None:
    home = make_home()
    home.tick(at(1, 22))
    home.motion("m-kit", at(2, 6, 30))
    assert "not_up" not in kinds(home.ticks(at(2, 6, 30), at(2, 11)))
    early = make_home()
    early.baseline = Baseline(wake_deadline_min=7 * 60 + 15)
    early.tick(at(1, 22))
    early.motion("m-bed", at(2, 5))
    assert "not_up" not in kinds(early.ticks(at(2, 5), at(2, 7, 10)))
    assert "not_up" in kinds(early.tick(at(2, 7, 15)))


def test_no_water_for_far_longer_than_usual() -> None:
    home = make_home()
    home.read("water-1", at(1, 8), water_total_l=100.0)
    home.read("water-1", at(1, 8, 5), water_total_l=103.0)
    for h in range(9, 23, 2):
        home.motion("m-liv", at(1, h))
    home.read("water-1", at(1, 20), water_total_l=103.1)  # below the meter's noise
    out = home.ticks(at(1, 22), at(1, 22, 4)) + home.tick(at(1, 22, 5))
    assert kinds(out) == ["no_water"]  # 14 h after 08:05
    assert kinds(home.read("water-1", at(1, 22, 10), water_total_l=110.0), cleared=True) == ["no_water"]


def _morning(home_water_at: int | None, *, flush_at_5: bool = False) -> Home:
    home = make_home()
    home.read("water-1", at(1, 21), water_total_l=100.0)
    home.read("water-1", at(1, 21, 30), water_total_l=104.0)  # washing before bed
    home.motion("m-bed", at(1, 22))
    home.read("bed-1", at(1, 22, 1), occupancy=True)
    if flush_at_5:
        home.read("bed-1", at(2, 4, 58), occupancy=False)
        home.motion("m-bath", at(2, 5))
        home.read("water-1", at(2, 5, 1), water_total_l=105.0)
        home.motion("m-bed", at(2, 5, 4))
        home.read("bed-1", at(2, 5, 5), occupancy=True)
    home.read("bed-1", at(2, 7), occupancy=False)
    home.motion("m-bath", at(2, 7, 1))
    if home_water_at is not None:
        home.read("water-1", at(2, 7, home_water_at), water_total_l=107.0)
    home.motion("m-kit", at(2, 7, 20))  # up: the first time outside bedroom and bathroom today
    for m in range(25, 60, 5):
        home.motion("m-kit", at(2, 7, m))
    for m in range(0, 10, 2):
        home.motion("m-liv", at(2, 8, m))
    return home


def test_no_water_at_all_since_getting_up() -> None:
    home = _morning(None)
    assert "no_water" not in kinds(home.ticks(at(2, 7, 20), at(2, 7, 44), step_min=1))
    (c,) = [c for c in home.tick(at(2, 7, 45)) if c.kind == AlertKind.NO_WATER]  # out of bed 45 min, no water
    assert (c.started_at, c.evidence["awake_min"]) == (at(2, 7), 45)  # the morning began leaving the bed
    assert "no water used since getting up" in c.reason_en
    assert kinds(home.read("water-1", at(2, 8, 10), water_total_l=110.0), cleared=True) == ["no_water"]
    washed = _morning(3)  # flushed and washed on waking: nothing to say
    assert "no_water" not in kinds(washed.ticks(at(2, 7, 20), at(2, 12), step_min=5))
    night = _morning(None, flush_at_5=True)  # a flush at 05:00, long before getting up, is the night's
    assert (night.state.up_first_at, night.state.woke_at) == (at(2, 7, 20), at(2, 7))
    assert "no_water" not in kinds(night.ticks(at(2, 7, 20), at(2, 7, 44), step_min=1))
    assert "no_water" in kinds(night.tick(at(2, 7, 45)))


def test_a_flush_on_a_toilet_trip_back_to_bed_is_not_the_mornings_water() -> None:
    home = make_home()
    home.read("water-1", at(1, 21, 30), water_total_l=104.0)
    home.read("bed-1", at(1, 22, 1), occupancy=True)
    home.read("bed-1", at(2, 6, 28), occupancy=False)  # a toilet trip half an hour before getting up
    home.motion("m-bath", at(2, 6, 29))
    home.read("water-1", at(2, 6, 31), water_total_l=110.0)
    home.read("bed-1", at(2, 6, 34), occupancy=True)  # back to bed
    home.read("bed-1", at(2, 7), occupancy=False)  # up for good; from now on, not a drop
    home.motion("m-bath", at(2, 7, 1))
    for m in range(20, 60, 5):
        home.motion("m-kit", at(2, 7, m))
    assert home.state.woke_at == at(2, 7)
    assert "no_water" not in kinds(home.ticks(at(2, 7, 20), at(2, 7, 44), step_min=1))
    assert "no_water" in kinds(home.tick(at(2, 7, 45)))


def test_no_water_since_up_counts_from_first_seen_up_without_a_bed_sensor() -> None:
    home = make_home()
    home.read("water-1", at(1, 21), water_total_l=100.0)
    home.read("water-1", at(1, 21, 30), water_total_l=104.0)
    home.motion("m-bed", at(1, 22))
    home.motion("m-bed", at(2, 6, 58))  # awake in the bedroom: no bed sensor says when they left it
    home.motion("m-bath", at(2, 7, 1))
    for m in range(20, 60, 5):
        home.motion("m-kit", at(2, 7, m))
    assert (home.state.up_first_at, home.state.woke_at) == (at(2, 7, 20), at(2, 7, 20))
    assert "no_water" not in kinds(home.ticks(at(2, 7, 20), at(2, 8, 4), step_min=1))
    assert "no_water" in kinds(home.tick(at(2, 8, 5)))


def test_no_water_on_the_first_watched_day_when_none_was_ever_used() -> None:
    """The rules began watching at 04:00 (a new install, a first evaluated day): the meter reports, flat."""
    home = make_home()
    home.read("water-1", at(2, 4), water_total_l=100.0)
    home.read("bed-1", at(2, 4, 1), occupancy=True)
    home.read("bed-1", at(2, 7), occupancy=False)
    home.motion("m-bath", at(2, 7, 1))
    for m in range(20, 60, 5):
        home.motion("m-kit", at(2, 7, m))
        home.read("water-1", at(2, 7, m), water_total_l=100.0)  # scheduled reports, no use
    assert home.state.last_water_at is None
    assert "no_water" not in kinds(home.ticks(at(2, 7, 20), at(2, 7, 44), step_min=1))
    (c,) = [c for c in home.tick(at(2, 7, 45)) if c.kind == AlertKind.NO_WATER]
    assert c.evidence["awake_min"] == 45
    silent = make_home()  # a meter that never reported says nothing about water use
    silent.read("bed-1", at(2, 4, 1), occupancy=True)
    silent.read("bed-1", at(2, 7), occupancy=False)
    for m in range(20, 60, 5):
        silent.motion("m-kit", at(2, 7, m))
    assert "no_water" not in kinds(silent.ticks(at(2, 7, 20), at(2, 20), step_min=10))
    night = make_home()  # watched from 21:00, asleep at 22:00: no use seen, but no gap to judge either
    night.baseline = Baseline(water_gap_limit_min=360)  # someone who never goes 6 h without water
    night.read("water-1", at(1, 21), water_total_l=100.0)
    night.motion("m-bed", at(1, 21, 30))
    night.read("bed-1", at(1, 22), occupancy=True)
    for h in range(0, 7):
        night.read("water-1", at(2, h), water_total_l=100.0)
    assert "no_water" not in kinds(night.ticks(at(1, 22), at(2, 7), step_min=10))


def test_night_exit_without_return_and_a_return_in_time() -> None:
    home = make_home()
    home.motion("m-liv", at(1, 22, 50))
    home.read("door-front", at(1, 23), contact=False)
    home.read("door-front", at(1, 23, 1), contact=True)
    out = home.ticks(at(1, 23, 5), at(1, 23, 29), step_min=1)
    assert out == []
    assert home.state.presence == "out"
    (c,) = home.tick(at(1, 23, 30))
    assert (c.kind, c.severity, c.started_at) == (AlertKind.NIGHT_EXIT, Severity.HIGH, at(1, 23))
    home.read("door-front", at(1, 23, 50), contact=False)
    out = home.read("m-liv", at(1, 23, 51), occupancy=True)
    assert kinds(out, cleared=True) == ["night_exit"]
    assert home.state.presence == "home"
    back = make_home()
    back.read("door-front", at(1, 23), contact=False)
    back.read("door-front", at(1, 23, 1), contact=True)
    back.read("m-liv", at(1, 23, 20), occupancy=True)  # stray single trigger: not a return
    back.read("door-front", at(1, 23, 25), contact=False)
    back.read("m-kit", at(1, 23, 26), occupancy=True)
    assert back.ticks(at(1, 23, 26), at(2, 0, 20)) == []


def test_daytime_outing_raises_nothing_then_a_low_no_activity_notice() -> None:
    home = make_home()
    home.motion("m-liv", at(1, 9))
    home.read("door-front", at(1, 9, 10), contact=False)
    home.read("door-front", at(1, 9, 11), contact=True)
    assert home.ticks(at(1, 9, 15), at(1, 21, 10)) == []  # out: no inactivity
    (c,) = home.tick(at(1, 21, 15))
    assert (c.kind, c.severity) == (AlertKind.NO_ACTIVITY, Severity.LOW)
    assert c.notify_after is None  # 21:15 is before quiet hours
    marked = make_home(away=True)
    marked.read("door-front", at(1, 9, 11), contact=True)
    assert marked.ticks(at(1, 9, 15), at(3, 9), step_min=30) == []


def test_quiet_hours_defer_low_notices_but_not_urgent_alarms() -> None:
    home = make_home()
    home.read("door-front", at(1, 11), contact=True)
    (c,) = home.ticks(at(1, 11), at(1, 23, 30))
    assert c.kind == AlertKind.NO_ACTIVITY
    assert c.detected_at == at(1, 23)
    assert c.notify_after == at(2, 7)
    bath = make_home()
    bath.motion("m-bath", at(1, 23))
    (urgent,) = bath.ticks(at(1, 23), at(2, 0, 30))
    assert urgent.notify_after is None


def test_long_bathroom_stay_while_moving() -> None:
    home = make_home()
    home.motion("m-kit", at(1, 10))
    for m in range(5, 90, 10):
        home.read("m-bath", at(1, 10, m) if m < 60 else at(1, 11, m - 60), occupancy=True)
        home.tick(at(1, 10, m) if m < 60 else at(1, 11, m - 60))
    c = [c for c in home.log if c.kind == AlertKind.LONG_BATHROOM]
    assert len(c) == 1
    assert c[0].started_at == at(1, 10, 5)
    assert c[0].detected_at == at(1, 11, 25)
    assert "inactivity" not in kinds(home.log)


def test_long_bathroom_stay_gone_still_counts_sooner_but_a_busy_bath_does_not() -> None:
    still = make_home()
    still.motion("m-kit", at(1, 10))
    for m in (2, 10, 20, 30, 36):  # in the bathroom, moving now and then, then still
        still.read("m-bath", at(1, 10, m), occupancy=True)
    assert still.ticks(at(1, 10, 36), at(1, 10, 46), step_min=1) == []  # stay under 60% of 75 min
    (c,) = still.tick(at(1, 10, 47))  # a 45 min stay, still for 11 min
    assert (c.kind, c.started_at, c.evidence["still"]) == (AlertKind.LONG_BATHROOM, at(1, 10, 2), True)
    assert "no movement for 11 min" in c.reason_en
    assert kinds(still.read("m-bath", at(1, 10, 50), occupancy=True), cleared=True) == ["long_bathroom"]
    bath = make_home()
    bath.motion("m-kit", at(1, 10))
    for m in range(2, 72, 2):  # a long, busy bath
        bath.read("m-bath", at(1, 10 + m // 60, m % 60), occupancy=True)
        assert bath.tick(at(1, 10 + m // 60, m % 60)) == []
    assert kinds(bath.ticks(at(1, 11, 12), at(1, 11, 16), step_min=1)) == []
    assert kinds(bath.tick(at(1, 11, 17))) == ["long_bathroom"]  # the usual 75 min limit


def test_sustained_activity_decline_is_a_low_early_warning() -> None:
    home = make_home()
    home.baseline = Baseline(days_of_data=20, daily_activity_median=400, recent_activity_ratio=0.4)
    (c,) = home.tick(at(10, 12))
    assert (c.kind, c.severity) == (AlertKind.ACTIVITY_DECLINE, Severity.LOW)
    home.baseline = Baseline(days_of_data=20, daily_activity_median=400, recent_activity_ratio=0.9)
    assert kinds(home.tick(at(11, 12)), cleared=True) == ["activity_decline"]
    young = make_home()
    young.baseline = Baseline(days_of_data=3, daily_activity_median=400, recent_activity_ratio=0.2)
    assert young.tick(at(10, 12)) == []


def test_late_reading_is_still_counted_once_order_restored() -> None:
    home = make_home()
    home.motion("m-liv", at(1, 10))
    home.tick(at(1, 11))
    # A motion stamped 10:30 arriving at 11:01 is real activity: the timer moves forward to it.
    home.read("m-liv", at(1, 10, 30), now=at(1, 11, 1), occupancy=True)
    assert home.state.last_activity_at == at(1, 10, 30)
    assert home.tick(at(1, 12, 59)) == []
    assert kinds(home.tick(at(1, 13))) == ["inactivity"]
    assert home.state.latest_at == at(1, 13)


def test_water_flow_counts_where_the_resident_was_seen_and_never_during_a_leak() -> None:
    home = make_home()
    home.read("water-1", at(2, 2), water_total_l=100.0)
    home.motion("m-bath", at(2, 3))
    home.read("water-1", at(2, 3, 10), water_total_l=106.0)  # the flush, reported by the kitchen meter
    assert home.state.last_activity_room == "bathroom"
    assert home.state.up_at is None  # a night-time flush is not getting up
    home.read("leak-1", at(2, 3, 20), water_leak=True)
    home.read("water-1", at(2, 3, 30), water_total_l=140.0)  # the leak runs through the meter
    assert home.state.last_activity_at == at(2, 3, 10)  # nobody moved
    assert home.state.last_water_at == at(2, 3, 30)


def test_early_to_bed_gets_the_night_limit_not_the_evening_one() -> None:
    home = make_home()
    night = [330.0, 330.0, 330.0, 240.0, 200.0, 150.0, 120.0]  # from a night toilet visit to waking
    home.baseline = Baseline(gap_limit_min={"bed": night + [180.0] * 14 + [600.0] * 3})
    home.motion("m-bed", at(1, 20, 10))
    home.read("bed-1", at(1, 20, 11), occupancy=True)  # asleep at 20:11, an evening hour
    assert "inactivity" not in kinds(home.ticks(at(1, 20, 15), at(2, 6, 5), step_min=10))
    assert "inactivity" in kinds(home.tick(at(2, 6, 15)))  # 600 min: the night's limit
    home.read("m-bed", at(2, 6, 20), occupancy=True)  # stirring in bed
    home.read("temp-1", at(2, 5), temperature=21.0)  # a reading evaluated long before the last activity
    assert home.state.last_activity_key == "bed"


def test_a_sound_sleep_before_the_usual_getting_up_is_no_inactivity() -> None:
    """Learned from nights with a toilet trip, the bed limit is short; a night without one is still normal."""
    home = make_home()
    home.baseline = Baseline(gap_limit_min={"bed": [300.0] * 24}, wake_deadline_min=7 * 60 + 30)
    home.motion("m-bed", at(1, 22, 29))
    home.read("bed-1", at(1, 22, 30), occupancy=True)
    assert "inactivity" not in kinds(home.ticks(at(1, 22, 30), at(2, 7, 25), step_min=5))  # 9 h asleep
    assert {"inactivity", "not_up"} <= set(kinds(home.ticks(at(2, 7, 30), at(2, 7, 35))))
    nap = make_home()  # by day the learned limit holds: five hours motionless in bed at noon is not a nap
    nap.baseline = Baseline(gap_limit_min={"bed": [300.0] * 24}, wake_deadline_min=7 * 60 + 30)
    nap.read("bed-1", at(2, 12), occupancy=True)
    assert kinds(nap.ticks(at(2, 16, 55), at(2, 17, 5))) == ["inactivity"]


def test_no_water_gap_while_asleep_nor_on_getting_up() -> None:
    home = make_home()
    home.baseline = Baseline(water_gap_limit_min=400)  # someone who always flushes on a night toilet trip
    home.read("water-1", at(1, 22, 20), water_total_l=100.0)
    home.read("water-1", at(1, 22, 25), water_total_l=104.0)  # washing before bed
    home.motion("m-bed", at(1, 22, 29))
    home.read("bed-1", at(1, 22, 30), occupancy=True)
    for h in range(0, 7):  # the meter reports on schedule: no use all night (no toilet trip this time)
        home.read("water-1", at(2, h, 5), water_total_l=104.0)
    assert "no_water" not in kinds(home.ticks(at(1, 22, 30), at(2, 6, 55), step_min=5))  # 8.5 h: asleep
    up = (
        home.read("bed-1", at(2, 7), occupancy=False)
        + home.motion("m-bath", at(2, 7, 1))
        + home.tick(at(2, 7, 2))
    )
    assert "no_water" not in kinds(up)  # just out of bed: not 8.5 h without water
    home.read("water-1", at(2, 7, 3), water_total_l=109.0)  # the morning wash
    for m in range(20, 60, 10):
        home.motion("m-kit", at(2, 7, m))
    assert "no_water" not in kinds(home.ticks(at(2, 7), at(2, 13, 40), step_min=5))
    assert "no_water" in kinds(home.ticks(at(2, 13, 45), at(2, 13, 45)))  # 400 min after the wash at 07:03

from __future__ import annotations

import dataclasses
import resource
from datetime import UTC, datetime
from multiprocessing import Array

from simulators.live import percentile
from simulators.load import SLOTS, LoadJob, WorkerResult, _Worker, raise_fd_limit, shares, summary
from simulators.netloop import NetLoop
from simulators.station import Mix, publishing_accounts, station_homes


def test_homes_are_split_into_contiguous_nearly_equal_shares() -> None:
    parts = shares(20000, 3)
    assert [len(p) for p in parts] == [6667, 6667, 6666]
    assert [i for p in parts for i in p] == list(range(20000))
    assert [len(p) for p in shares(2, 4)] == [1, 1, 0, 0]


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 99) == 99.0
    assert percentile(values, 50) == 50.0
    assert percentile(values, 100) == 100.0
    assert percentile([], 99) == 0.0


def test_connections_are_paced_by_the_rate_limit() -> None:
    net = NetLoop(connect_rate=100.0)
    t = net._last_fill
    granted = 0
    for step in range(1, 101):  # one simulated second in 10 ms steps
        budget = net._budget(t + step * 0.01)
        net._tokens -= budget
        granted += budget
    assert 95 <= granted <= 110
    assert NetLoop()._budget(t) > 10**6  # no limit


def test_gateway_mix_holds_far_fewer_connections_than_the_neighbourhood_mix() -> None:
    gateway = station_homes("st", 400, seed=3, mix=Mix.GATEWAY)
    neighbourhood = station_homes("st", 400, seed=3)
    assert len(publishing_accounts(gateway)) / 400 < 6
    assert len(publishing_accounts(neighbourhood)) / 400 > 9
    assert {h.home_id for h in gateway}.isdisjoint(h.home_id for h in neighbourhood)
    assert sum(h.gateway_id is not None for h in gateway) >= 0.9 * 400
    tail = station_homes("st", 10, seed=3, mix=Mix.GATEWAY, first=390)
    assert [h.home_id for h in tail] == [h.home_id for h in gateway[390:]]


def test_the_fd_limit_is_raised_to_the_hard_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        assert raise_fd_limit() >= hard
        assert resource.getrlimit(resource.RLIMIT_NOFILE)[0] >= hard
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))


def test_summary_adds_up_workers_and_reports_lag_percentiles() -> None:
    a = WorkerResult(0, 10, 50, 900, 1, cpu_s=3.0, wall_s=30.0, lags=[0.001] * 99 + [2.0])
    b = WorkerResult(1, 10, 48, 600, 0, cpu_s=6.0, wall_s=30.0, lags=[0.002] * 100, unacked=7)
    record = summary([a, b], extra={"mix": "gateway"})
    assert (record["homes"], record["connections"], record["messages_published"]) == (20, 98, 1500)
    assert record["messages_per_s"] == 50.0
    assert record["cpu_percent"] == [10.0, 20.0]
    assert record["publish_lag_ms_p99"] == 2.0
    assert record["publish_lag_ms_max"] == 2000.0
    assert record["mix"] == "gateway"
    assert record["messages_unacknowledged"] == 7


def test_each_worker_publisher_keeps_the_jobs_order_window() -> None:
    """The window travels in the job to the (forked) workers; no window, no gate."""
    homes = station_homes("st-order", 2, seed=0)
    job = LoadJob(homes=homes, start=datetime.now(UTC), days=1, seed=0, plan=None, speed=1.0,
                  host="127.0.0.1", port=1, credentials={}, order_window_s=30.0)  # fmt: skip
    gated = _Worker(job, 0, Array("d", SLOTS)).pub
    plain = _Worker(dataclasses.replace(job, order_window_s=None), 0, Array("d", SLOTS)).pub
    try:
        assert gated.order is not None
        assert gated.order.window_s == 30.0
        assert plain.order is None
    finally:
        gated.close(0.1)
        plain.close(0.1)

"""Two API processes on one database: each delivers every live event to its own dashboards (LISTEN per process)."""

from __future__ import annotations

import pytest

from web.api.bench import run_bench
from web.settings import Settings

pytestmark = [pytest.mark.db, pytest.mark.slow, pytest.mark.timeout(300)]


def test_two_api_processes_both_deliver_live_events(settings: Settings) -> None:
    result = run_bench(settings, homes=50, dashboards=4, rounds=3, servers=2)
    assert result["server_processes"] == 2
    assert [p["deliveries"] for p in result["fanout_per_process"]] == [6, 6]  # 2 dashboards x 3 events each
    assert result["fanout_deliveries"] == 12
    assert result["map_p95_ms"] > 0

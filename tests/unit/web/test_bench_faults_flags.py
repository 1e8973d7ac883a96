"""``eldercare bench faults`` refuses bad flags with one clear line, before starting anything."""

from __future__ import annotations

import pytest

from web.cli import main


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (
            ["--faults", "ingest,bogus"],
            "unknown fault 'bogus'; choose from ingest,rules,planner,api,broker,postgres",
        ),
        (["--faults", " , "], "name at least one of"),
        (["--faults", "rules,rules"], "a fault is named twice"),
        (["--homes", "0"], "--homes"),
        (["--rate", "0"], "--rate"),
        (["--sos-every-s", "0.01"], "--sos-every-s"),
    ],
)
def test_bad_flags_are_refused(args: list[str], says: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["bench", "faults", *args])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: "), err
    assert says in err, err

"""docs/configuration.md is the generated reference of the settings code, not a stale copy."""

from __future__ import annotations

from pathlib import Path

from web.settings import reference_markdown

DOC = Path(__file__).resolve().parents[3] / "docs" / "configuration.md"


def test_configuration_reference_is_current() -> None:
    expected = reference_markdown()
    assert DOC.read_text(encoding="utf-8") == expected, (
        "run: eldercare config --reference > docs/configuration.md"
    )
    assert "`ELDERCARE_DB_URL`" in expected

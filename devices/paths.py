"""Where the shared public data sets live (CASAS logs, Solomon instances): ``../shared/data`` next to the repo."""

from __future__ import annotations

import os
from pathlib import Path

_REPO = Path(__file__).resolve().parents[1]


def shared_data_dir() -> Path:
    """``$ELDERCARE_SHARED_DATA``, else ``../shared/data`` beside the repository, else ``/work/shared/data``."""
    env = os.environ.get("ELDERCARE_SHARED_DATA")
    if env:
        return Path(env)
    for candidate in (_REPO.parent / "shared" / "data", Path("/work/shared/data")):
        if candidate.is_dir():
            return candidate
    return _REPO.parent / "shared" / "data"

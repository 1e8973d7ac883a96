#!/usr/bin/env bash
# The README's two commands:
#   bash scripts/setup.sh demo   installs what is needed, then runs the platform on a private local stack
#   bash scripts/setup.sh test   installs what is needed, then runs lint, type checks and the whole test suite
# Installs are idempotent: the second run skips what is there and starts in seconds.
set -euo pipefail
cd "$(dirname "$0")/.."
what="${1:-}"
case "$what" in demo|test|install) ;; *) echo "usage: bash scripts/setup.sh demo|test|install" >&2; exit 2 ;; esac
shift || true

bash scripts/install-system-deps.sh

PY="${PYTHON:-python3}"
command -v "$PY" >/dev/null 2>&1 || { echo "error: $PY not found (install python3 >= 3.11)" >&2; exit 1; }
if [ ! -x .venv/bin/python ]; then
  echo "[setup] creating .venv" >&2
  "$PY" -m venv .venv
fi
stamp=".venv/.installed-$(sha256sum pyproject.toml | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  echo "[setup] installing Python packages (first run: a few minutes)" >&2
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e '.[dev]'
  rm -f .venv/.installed-*
  touch "$stamp"
fi

case "$what" in
  install) echo "[setup] installed" >&2 ;;
  demo)
    exec .venv/bin/eldercare demo "$@"
    ;;
  test)
    echo "[setup] ruff check / ruff format --check / mypy / lint-imports" >&2
    .venv/bin/ruff check .
    .venv/bin/ruff format --check .
    .venv/bin/mypy devices monitor dispatcher web simulators tests
    .venv/bin/lint-imports
    echo "[setup] pytest" >&2
    rc=0
    .venv/bin/pytest --timeout=900 "$@" || rc=$?
    if [ "$rc" -eq 5 ]; then echo "error: pytest collected no tests" >&2; exit 1; fi
    exit "$rc"
    ;;
esac

#!/usr/bin/env bash
# The README's two commands:
#   bash scripts/setup.sh demo   installs what is needed, then runs the platform on a private local stack
#   bash scripts/setup.sh test   installs what is needed, then runs lint, type checks and the whole test suite
# Installs are idempotent: the second run skips what is there and starts in seconds.
set -euo pipefail
cd "$(dirname "$0")/.."
what="${1:-}"
case "$what" in demo|test|install|lock) ;; *) echo "usage: bash scripts/setup.sh demo|test|install|lock" >&2; exit 2 ;; esac
shift || true

# Python packages come from the lock files (exact versions with hashes, made by pip-compile from the ranges
# in pyproject.toml); `bash scripts/setup.sh lock` remakes them after a change of pyproject.toml.
LOCK_ARGS=(--generate-hashes --allow-unsafe --strip-extras --no-emit-index-url --no-emit-find-links -q)
if [ "$what" = lock ]; then
  PY="${PYTHON:-python3}"
  tools="$(mktemp -d)"
  trap 'rm -rf "$tools"' EXIT
  "$PY" -m venv "$tools" && "$tools/bin/pip" install -q pip-tools
  "$tools/bin/pip-compile" "${LOCK_ARGS[@]}" -o requirements.lock pyproject.toml
  "$tools/bin/pip-compile" "${LOCK_ARGS[@]}" --extra dev -o requirements-dev.lock pyproject.toml
  echo "[setup] wrote requirements.lock and requirements-dev.lock" >&2
  exit 0
fi

bash scripts/install-system-deps.sh

PY="${PYTHON:-python3}"
command -v "$PY" >/dev/null 2>&1 || { echo "error: $PY not found (install python3 >= 3.11)" >&2; exit 1; }
if [ ! -x .venv/bin/python ]; then
  echo "[setup] creating .venv" >&2
  "$PY" -m venv .venv
fi
stamp=".venv/.installed-$(cat pyproject.toml requirements-dev.lock | sha256sum | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  echo "[setup] installing Python packages from requirements-dev.lock (first run: a few minutes)" >&2
  .venv/bin/python -m pip install -q --require-hashes -r requirements-dev.lock
  .venv/bin/python -m pip install -q --no-deps -e .
  if ! .venv/bin/python -m pip check >&2; then  # a range in pyproject.toml that the lock does not meet
    echo "error: requirements-dev.lock does not satisfy pyproject.toml: run bash scripts/setup.sh lock" >&2
    exit 1
  fi
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
    echo "[setup] dependency audit (pip-audit on the lock files)" >&2
    .venv/bin/python scripts/audit_deps.py
    echo "[setup] pytest" >&2
    rc=0
    .venv/bin/pytest --timeout=900 "$@" || rc=$?
    if [ "$rc" -eq 5 ]; then echo "error: pytest collected no tests" >&2; exit 1; fi
    exit "$rc"
    ;;
esac

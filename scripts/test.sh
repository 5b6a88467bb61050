#!/usr/bin/env bash
# The test command: set up (idempotent), start a throwaway PostgreSQL for the
# store suite, then run every test, real-engine ones included.
# Pass pytest arguments through, e.g. `scripts/test.sh -m "not engine"`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
if [ -z "${MNEMOS_TEST_PG_URL:-}" ] && [ -x scripts/postgres.sh ]; then
  if pg_env=$(bash scripts/postgres.sh); then
    eval "$pg_env"
  else
    echo "warning: PostgreSQL could not be started; PostgreSQL store tests will be skipped" >&2
  fi
fi
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
exec .venv/bin/python -m pytest "$@"

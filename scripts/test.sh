#!/usr/bin/env bash
# The test command: set up (idempotent), start a throwaway PostgreSQL for the
# store suite, then run every test, real-engine ones included.
# Pass pytest arguments through, e.g. `scripts/test.sh -m "not engine"`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
# The HTML report's test opens its page in headless Chromium (tests/evaluation/test_html_report.py); without
# a Chromium that one test is skipped.
. scripts/apt_install.sh
command -v chromium-browser >/dev/null 2>&1 \
  || apt_install chromium chromium "the HTML report's browser test will be skipped"
if [ -z "${MNEMOS_TEST_PG_URL:-}" ] && [ -x scripts/postgres.sh ]; then
  if pg_env=$(bash scripts/postgres.sh); then
    eval "$pg_env"
  else
    echo "warning: PostgreSQL could not be started; PostgreSQL store tests will be skipped" >&2
  fi
fi
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
exec .venv/bin/python -m pytest "$@"

#!/usr/bin/env bash
# The tests: install with the test extras, then pytest. `.ci/run` calls exactly this.
# Extra arguments go to pytest (e.g. `bash scripts/test.sh -k engine`).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh test
. .venv/bin/activate
python -m pytest -q "$@"

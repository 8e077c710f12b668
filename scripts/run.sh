#!/usr/bin/env bash
# The main job on the embedded default: install, then run the whole DAG offline on CPU.
# Extra arguments go to snakemake (e.g. `bash scripts/run.sh -n`, `--configfile configs/paper.yaml`).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
. .venv/bin/activate
start=$(date +%s)
snakemake --cores all --workflow-profile profiles/default "$@"
echo "[run] finished in $(( $(date +%s) - start )) s; results are in $(pwd)/results" \
     "(tables: results/tables/, report: results/report/index.html, logs: logs/)"

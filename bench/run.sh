#!/usr/bin/env bash
# The beian benchmark (issue #10; BENCHMARKS.md at the repository root tells what it measures and how to read it).
#
#   bench/run.sh              the full run: builds the release binary, seeds PostgreSQL, measures, reports
#   bench/run.sh --quick      short runs on a small data set, to try the harness out (figures mean nothing)
#   bench/run.sh --only page,detail,queue,create,transitions,email,upload,webhooks,coldstart,scale   (any of them)
#   bench/run.sh --help       every setting (environment variables)
#
# Needs: PostgreSQL (the server in BENCH_PG_URL, default postgres://postgres@127.0.0.1:5432, as a superuser: the
# run creates and drops databases named bench_*, and loads pg_stat_statements, restarting a Debian cluster if it
# is not loaded yet), psql and pgbench, node and npm, python3 (3.11, standard library only: the harness is the package
# bench/beian_bench), wrk (installed from Debian's packages when missing and running as root), and cargo unless
# BEIAN_BIN names a binary.
# Results: bench/results/last-run.json and last-run.md (the Markdown to paste into BENCHMARKS.md), logs beside them.
set -euo pipefail
cd "$(dirname "$0")/.."
# The harness: python3 -m beian_bench, found in bench/.
export PYTHONPATH="$PWD/bench${PYTHONPATH:+:$PYTHONPATH}"

for arg in "$@"; do
  if [[ "$arg" == "-h" || "$arg" == "--help" ]]; then
    exec python3 -m beian_bench --help
  fi
done

note() { printf '[bench] %s\n' "$*"; }

# The binary: BEIAN_BIN, or the release build, built here (the same build folder as .ci/run).
if [[ -z "${BEIAN_BIN:-}" ]]; then
  export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/beian-target}"
  note "building the release binary (cargo build --release --locked) in $CARGO_TARGET_DIR; a clean build takes minutes"
  cargo build --release --locked
  export BEIAN_BIN="$CARGO_TARGET_DIR/release/beian"
fi

# wrk, from Debian's packages.
if ! command -v wrk >/dev/null 2>&1; then
  if [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null 2>&1; then
    note "installing wrk (apt-get)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq wrk >/dev/null
  else
    echo "wrk is not installed: install it (Debian: apt-get install wrk) and run again" >&2
    exit 1
  fi
fi

# PostGraphile v4, pinned by bench/package-lock.json.
if [[ ! -f bench/node_modules/postgraphile/package.json ]] \
  || [[ bench/package-lock.json -nt bench/node_modules/.package-lock.json ]]; then
  note "installing PostGraphile (npm ci --prefix bench)"
  npm ci --prefix bench --no-audit --no-fund --loglevel=error
fi

exec python3 -m beian_bench "$@"

#!/bin/sh
# mocket benchmarks: builds mocket's release binaries and the harness, then runs it.
#   bench/run.sh [all|http|limits|load|scale|memory]... [options, see bench/src/main.rs]
# Results: printed, and written to bench/results/latest.md and latest.json.
set -e
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
cargo build --release -p mocket-cli -p mocket-shim -p mocket-engine-lib
python3 -c 'import mocket' 2>/dev/null || python3 -m pip install --quiet mocket || \
  echo "bench: cannot install Python's Mocket library; its column will be skipped" >&2
exec cargo run --release --manifest-path bench/Cargo.toml --bin mocket-bench -- "$@"

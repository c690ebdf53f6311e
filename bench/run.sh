#!/bin/sh
# mocket benchmarks (issue 7): builds mocket's release binaries and the harness, then runs it.
#
#   bench/run.sh [--snapshot] [all|limits|http|load|scale|memory|redis|https|soak|kubernetes]... [options]
#
# Options are listed at the top of bench/src/main.rs (sizes, repetitions, clients, --quick).
# --snapshot: benchmark a clean copy of the committed HEAD (git archive into
# bench/target/mocket-head, built there), not the working tree.
# Results: printed, and written to bench/results/latest.md and latest.json.
set -e
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
if [ "$1" = "--snapshot" ]; then
  shift
  snap="$root/bench/target/mocket-head"
  mkdir -p "$snap"
  # Replace the sources, keep the snapshot's target dir (incremental rebuilds).
  find "$snap" -mindepth 1 -maxdepth 1 ! -name target -exec rm -rf {} +
  git archive HEAD | tar -x -C "$snap"
  # git archive stamps files with the commit time, which can be older than the last build:
  # touch them so cargo rebuilds mocket's crates (not their dependencies).
  find "$snap" -path "$snap/target" -prune -o -type f -exec touch {} +
  git rev-parse --short HEAD > "$snap/COMMIT"
  (cd "$snap" && cargo build --release -p mocket-cli -p mocket-shim -p mocket-embedded)
  MOCKET_BIN_DIR="$snap/target/release"
  export MOCKET_BIN_DIR
else
  cargo build --release -p mocket-cli -p mocket-shim -p mocket-embedded
fi
python3 -c 'import mocket' 2>/dev/null || python3 -m pip install --quiet mocket || \
  echo "bench: cannot install Python's Mocket library (pip install mocket); its column is skipped" >&2
python3 -c 'import kmock' 2>/dev/null || python3 -m pip install --quiet kmock || \
  echo "bench: cannot install kmock (pip install kmock); its Kubernetes row is skipped" >&2
# Every binary of the harness: `cargo run --bin mocket-bench` alone would leave a cold
# bench/target without bench-client, which most sections start ("missing bench-client").
cargo build --release --manifest-path bench/Cargo.toml --bins
exec cargo run --release --manifest-path bench/Cargo.toml --bin mocket-bench -- "$@"

#!/bin/sh
# The test API's costs, in both placements (see BENCHMARKS.md, "Test API").
#
#   bench/testapi/run.sh [N]     (N: timed operations per figure, default 5000)
#
# Builds mocket's release binaries and this benchmark, then runs it under `mocket run` (daemon)
# and under a bare LD_PRELOAD (embedded), inside a network namespace with only loopback.
set -e
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
cargo build --release -p mocket-cli -p mocket-shim -p mocket-embedded
cargo build --release --manifest-path bench/testapi/Cargo.toml
bin="$root/bench/testapi/target/release/mocket-bench-testapi"
mocks="$root/bench/testapi/mocks.json"
n=${1:-5000}
unshare -n sh -c "ip link set lo up &&
  echo daemon: && '$root/target/release/mocket' run --log error --config '$mocks' -- '$bin' $n &&
  echo embedded: && LD_PRELOAD='$root/target/release/libmocket.so' MOCKET_LOG=error MOCKET_CONFIG='$mocks' '$bin' $n"

#!/usr/bin/env python3
"""What the check of the cached libraries adds to a warm `mocket` start (issue 18).

Runs two variants of one command, interleaved (A B A B ...) so that load changes hit both alike,
and prints the medians and their difference:
  A: MOCKET_LIB points at the cached libmocket.so (no check: only a stat)
  B: no MOCKET_LIB (the embedded copies are checked against the cache, as on every start)

usage: bench/py/cache_check.py MOCKET [ROUNDS] [run|shim]
  run  (default): mocket run --config examples/demo.json -- /bin/true
  shim:           mocket shim (checks both libraries whole)
"""

import os
import statistics
import subprocess
import sys
import time


def main():
    mocket = sys.argv[1]
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 200
    mode = sys.argv[3] if len(sys.argv) > 3 else "run"
    here = os.path.dirname(os.path.abspath(__file__))
    demo = os.path.join(here, "..", "..", "examples", "demo.json")
    if mode == "run":
        cmd = [mocket, "run", "--config", demo, "--", "/bin/true"]
    else:
        cmd = [mocket, "shim"]
    env = dict(os.environ)
    env.pop("MOCKET_LIB", None)
    shim = subprocess.run([mocket, "shim"], env=env, check=True,
                          capture_output=True, text=True).stdout.strip()
    with_lib = dict(env, MOCKET_LIB=shim)
    times = {"A (MOCKET_LIB, no check)": [], "B (cache check)": []}
    for _ in range(rounds):
        for name, e in zip(times, (with_lib, env)):
            start = time.perf_counter()
            subprocess.run(cmd, env=e, check=True, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
            times[name].append(time.perf_counter() - start)
    medians = {k: statistics.median(v) * 1000 for k, v in times.items()}
    for name, m in medians.items():
        print(f"{name}: median {m:.3f} ms over {rounds} runs")
    a, b = medians.values()
    print(f"added by the check: {b - a:+.3f} ms ({' '.join(cmd[1:2])})")


if __name__ == "__main__":
    main()

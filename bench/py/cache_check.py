#!/usr/bin/env python3
"""What the check of the cached libraries adds to a warm `mocket` start (issue 18).

Runs two variants of one command, interleaved (A B A B ...) so that load changes hit both alike,
and prints the medians of wall-clock and CPU time (user + system, which a loaded machine
disturbs less) and their differences:
  A: MOCKET_LIB points at the cached libmocket.so (no check: only a stat)
  B: no MOCKET_LIB (the embedded copies are checked against the cache, as on every start)

usage: bench/py/cache_check.py MOCKET [ROUNDS] [run|shim]
  run  (default): mocket run --config examples/demo.json -- /bin/true
  shim:           mocket shim (checks both libraries whole)
"""

import os
import resource
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
    names = ["A (MOCKET_LIB, no check)", "B (cache check)"]
    wall = {k: [] for k in names}
    cpu = {k: [] for k in names}
    for _ in range(rounds):
        for name, e in zip(names, (with_lib, env)):
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            start = time.perf_counter()
            subprocess.run(cmd, env=e, check=True, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
            wall[name].append(time.perf_counter() - start)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu[name].append(after.ru_utime + after.ru_stime
                             - before.ru_utime - before.ru_stime)
    print(f"{' '.join(cmd[1:2])}, {rounds} interleaved runs each, load {os.getloadavg()[0]:.1f}")
    for what, times in (("wall", wall), ("cpu (user+sys, mocket and its children)", cpu)):
        medians = [statistics.median(times[k]) * 1000 for k in names]
        for name, m in zip(names, medians):
            print(f"  {what}: {name}: median {m:.3f} ms")
        print(f"  {what}: added by the check: {medians[1] - medians[0]:+.3f} ms")


if __name__ == "__main__":
    main()

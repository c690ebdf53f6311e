"""Python http.client side of the benchmarks (run as a separate process, like bench-client).

    python3 client.py <keep|new> URL N [--warmup W] [--budget-ms MS] [--pymocket]

Prints one JSON line: {"n", "secs", "rps", "lat_ns", "errors"}. With --pymocket the requests are
answered in-process by Python's Mocket library (pip install mocket), which serves without any
socket hop: the column the issue compares mocket against for Python.
"""
import http.client
import json
import os
import sys
import time
import urllib.parse

BODY = b'{"id":1}'


def thread_cpu_ns(pid):
    """CPU ns of the live threads of pid (from /proc/<pid>/task/*/schedstat)."""
    total = 0
    try:
        for t in os.listdir(f"/proc/{pid}/task"):
            try:
                with open(f"/proc/{pid}/task/{t}/schedstat") as f:
                    total += int(f.read().split()[0])
            except OSError:
                pass
    except OSError:
        pass
    return total


def cpu_now():
    return time.process_time_ns(), thread_cpu_ns(os.getppid())


def main():
    mode, url, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    rest = sys.argv[4:]
    warmup = max(1, min(200, n // 10))
    budget = 3600.0
    pymocket = False
    i = 0
    while i < len(rest):
        if rest[i] == "--warmup":
            warmup = int(rest[i + 1]); i += 2
        elif rest[i] == "--budget-ms":
            budget = int(rest[i + 1]) / 1000.0; i += 2
        elif rest[i] == "--pymocket":
            pymocket = True; i += 1
        else:
            raise SystemExit("unknown option " + rest[i])
    u = urllib.parse.urlsplit(url)
    host, port = u.hostname, u.port or 80
    path = u.path + ("?" + u.query if u.query else "")

    if mode == "keep":
        conn = http.client.HTTPConnection(host, port)

        def one():
            conn.request("GET", path)
            r = conn.getresponse()
            r.read()
            return r.status == 200
    elif mode == "new":
        def one():
            c = http.client.HTTPConnection(host, port)
            c.request("GET", path)
            r = c.getresponse()
            r.read()
            c.close()
            return r.status == 200
    else:
        raise SystemExit("mode: keep or new")

    def drive():
        errors = 0
        for _ in range(warmup):
            if not one():
                errors += 1
        lat = []
        cpu0 = cpu_now()
        clock = time.perf_counter_ns
        start = clock()
        limit = start + int(budget * 1e9)
        done = 0
        while done < n:
            t = clock()
            if not one():
                errors += 1
            e = clock()
            lat.append(e - t)
            done += 1
            if e > limit:
                break
        secs = (clock() - start) / 1e9
        cpu1 = cpu_now()
        per = lambda a, b: max(0, a - b) / max(1, done) / 1000.0
        cpu = {"client": per(cpu1[0], cpu0[0]), "in_process_engine": 0.0, "parent": per(cpu1[1], cpu0[1])}
        print(json.dumps({"n": done, "secs": secs, "rps": done / secs, "errors": errors,
                          "lat_ns": lat, "cpu_us_per_req": cpu}))

    if pymocket:
        from mocket import Mocketizer
        from mocket.mockhttp import Entry
        Entry.single_register(Entry.GET, url, body=BODY, headers={"content-type": "application/json"})
        with Mocketizer():
            drive()
    else:
        drive()


if __name__ == "__main__":
    main()

"""Kubernetes API emulator benchmark client (bench/src/kubernetes.rs), plain http.client.

    python3 kube_bench.py URL N_OBJECTS N_LISTS N_ROUND_TRIPS

Against URL (mocket's `kubernetes` entry, `mocket serve`, or kmock's KubernetesEmulator):
creates N_OBJECTS ConfigMaps (one in ten labelled app=selected), times N_LISTS lists with
`labelSelector=app=selected` and N_LISTS lists of everything, then N_ROUND_TRIPS times the
round trip from sending a create to reading its ADDED event on an open watch. Prints one JSON
line.
"""
import http.client
import json
import statistics
import sys
import time
import urllib.parse

PATH = "/api/v1/namespaces/default/configmaps"


def connect(url):
    u = urllib.parse.urlsplit(url)
    return http.client.HTTPConnection(u.hostname, u.port or 80, timeout=60)


def create(conn, name, labels):
    body = json.dumps({"apiVersion": "v1", "kind": "ConfigMap",
                       "metadata": {"name": name, "namespace": "default", "labels": labels},
                       "data": {"key": "value"}})
    conn.request("POST", PATH, body, {"content-type": "application/json"})
    resp = conn.getresponse()
    resp.read()
    assert resp.status in (200, 201), resp.status


def timed_list(conn, query, n):
    times, items, size = [], 0, 0
    for _ in range(n):
        t = time.perf_counter()
        conn.request("GET", PATH + query)
        resp = conn.getresponse()
        body = resp.read()
        times.append(time.perf_counter() - t)
        assert resp.status == 200, resp.status
        items, size = len(json.loads(body)["items"]), len(body)
    return statistics.median(times) * 1000, items, size


def main(url, n_objects, n_lists, n_trips):
    conn = connect(url)
    t = time.perf_counter()
    for i in range(n_objects):
        create(conn, f"cm-{i}", {"app": "selected" if i % 10 == 0 else "other", "i": str(i)})
    create_secs = time.perf_counter() - t
    sel_ms, sel_items, sel_bytes = timed_list(conn, "?labelSelector=app%3Dselected", n_lists)
    all_ms, all_items, all_bytes = timed_list(conn, "", n_lists)

    watch = connect(url)
    watch.request("GET", PATH + "?watch=true&labelSelector=app%3Drt")
    stream = watch.getresponse()
    assert stream.status == 200, stream.status

    def seen(name):
        while True:
            line = stream.readline()
            if not line:
                raise SystemExit("the watch ended")
            line = line.strip()
            if line and json.loads(line)["object"]["metadata"]["name"] == name:
                return

    create(conn, "rt-warm", {"app": "rt"})
    seen("rt-warm")
    trips = []
    for i in range(n_trips):
        t = time.perf_counter()
        create(conn, f"rt-{i}", {"app": "rt"})
        seen(f"rt-{i}")
        trips.append(time.perf_counter() - t)
    trips.sort()
    print(json.dumps({
        "objects": n_objects, "create_per_s": n_objects / create_secs,
        "list_selector_ms": sel_ms, "list_selector_items": sel_items, "list_selector_bytes": sel_bytes,
        "list_all_ms": all_ms, "list_all_items": all_items, "list_all_bytes": all_bytes,
        "watch_rt_us_p50": trips[len(trips) // 2] * 1e6,
        "watch_rt_us_p99": trips[min(len(trips) - 1, int(len(trips) * 0.99))] * 1e6,
    }))


if __name__ == "__main__":
    main(sys.argv[1], *map(int, sys.argv[2:5]))

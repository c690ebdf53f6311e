//! `kubernetes` entries (DESIGN.md section 9) with clients nobody here wrote: the Python
//! `kubernetes` client (.ci/run installs it), the Rust `kube` crate
//! (`tests/src/bin/mocket-kube-client.rs`), `kubectl` against `mocket serve`, and raw sockets
//! for what a well-behaved client never does (a watch that stops reading).

#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};

use mocket_tests::*;

const MOCKS: &str = r#"{
  "entries": [
    { "kubernetes": "https://kube.test:6443",
      "resources": [{ "group": "example.com", "version": "v1", "kind": "Widget", "plural": "widgets" }],
      "objects": [
        { "apiVersion": "v1", "kind": "ConfigMap", "metadata": { "name": "seed", "labels": { "app": "web" } },
          "data": { "k": "v" } },
        { "apiVersion": "v1", "kind": "ConfigMap",
          "metadata": { "name": "other", "namespace": "team", "labels": { "app": "db" } } },
        { "apiVersion": "apps/v1", "kind": "Deployment", "metadata": { "name": "web" },
          "spec": { "replicas": 1, "selector": { "matchLabels": { "app": "web" } },
                    "template": { "metadata": { "labels": { "app": "web" } },
                                  "spec": { "containers": [{ "name": "web", "image": "nginx" }] } } } },
        { "apiVersion": "example.com/v1", "kind": "Widget", "metadata": { "name": "w1" }, "spec": { "size": 1 } }
      ] }
  ]
}"#;

/// The mocket CA certificate's path (`mocket ca` creates it on first use).
fn mocket_ca() -> String {
    let out = std::process::Command::new(mocket_bin())
        .arg("ca")
        .output()
        .expect("mocket ca");
    assert!(
        out.status.success(),
        "mocket ca: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// A kubeconfig for `server`, trusting the mocket CA.
fn kubeconfig(dir: &Path, server: &str, tls_server_name: Option<&str>) -> PathBuf {
    let name = tls_server_name.map_or(String::new(), |n| format!(", tls-server-name: {n}"));
    let path = dir.join("kubeconfig");
    std::fs::write(
        &path,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: mock\n  cluster: {{server: \
             \"{server}\"{name}, certificate-authority: \"{ca}\"}}\nusers:\n- name: u\n  user: \
             {{token: t}}\ncontexts:\n- name: c\n  context: {{cluster: mock, user: u, namespace: \
             default}}\ncurrent-context: c\n",
            ca = mocket_ca()
        ),
    )
    .unwrap();
    path
}

fn python_program() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("programs/kubernetes_client.py")
}

/// The Python client in `mode` under `placement`.
fn python_client(placement: Placement, mocks: &Path, args: &[&str]) -> Run {
    need_python_module("kubernetes");
    let program = python_program();
    let mut cmd = vec!["python3", program.to_str().unwrap()];
    cmd.extend_from_slice(args);
    placement.run(mocks, &cmd)
}

#[test]
fn python_client_every_verb_under_both_placements() {
    let mocks = mocks_file(MOCKS);
    for placement in PLACEMENTS {
        let run = python_client(placement, &mocks, &["verbs"]);
        run.success();
        let expected = "\
version v1.32.0-mocket
groups apps,example.com
seeded seed
created made default 1 True True
create again 409 AlreadyExists
get {'a': '1'}
get missing 404 NotFound
label selector made,seed
field selector other
bad selector 400 BadRequest
replaced {'a': '2'} True
stale replace 409 Conflict
strategic patch {'a': '2', 'b': '3'}
json patch {'b': '3'}
status 2 1 True
widgets w1,w2
widget patched 3 2
deleted 404 NotFound
namespace fresh None
";
        assert_eq!(run.stdout, expected, "{placement:?}: {}", run.stderr);
    }
}

#[test]
fn python_client_watch_sees_changes_in_order_under_both_placements() {
    let mocks = mocks_file(MOCKS);
    for placement in PLACEMENTS {
        let run = python_client(placement, &mocks, &["watch"]);
        run.success();
        let expected = "\
event ADDED w1 None
event MODIFIED w1 {'x': '1'}
event DELETED w1 {'x': '1'}
ordered True
timed out 0
";
        assert_eq!(run.stdout, expected, "{placement:?}: {}", run.stderr);
    }
}

#[test]
fn state_and_watches_are_shared_by_the_process_tree_under_mocket_run() {
    need_python_module("kubernetes");
    let mocks = mocks_file(MOCKS);
    let program = python_program();
    let p = program.to_str().unwrap();
    // One process watches while another creates; a third reads what the second made.
    let script = format!(
        "python3 {p} watch-for shared > watch.out & \
         for i in $(seq 100); do grep -q watching watch.out 2>/dev/null && break; sleep 0.1; done; \
         python3 {p} create shared && python3 {p} get shared && wait && cat watch.out"
    );
    let dir = scratch_dir("kube-shared");
    let mut cmd = netns_command(&[
        mocket_bin().to_str().unwrap(),
        "run",
        "--config",
        mocks.to_str().unwrap(),
        "--",
        "sh",
        "-c",
        &script,
    ]);
    cmd.current_dir(&dir);
    let run = run(cmd);
    run.success();
    assert_eq!(
        run.stdout, "created shared\ngot shared\nwatching\nsaw ADDED shared\n",
        "{}",
        run.stderr
    );
}

/// A watcher that never reads while another client writes 20 MB of objects: the writes all
/// complete, the watch is dropped (its socket closed) with a journal event, and the server goes
/// on serving.
#[test]
fn a_watch_that_stops_reading_is_dropped_without_blocking_writers() {
    let mocks =
        mocks_file(r#"{"entries": [{"kubernetes": "http://kube.test:8080", "watch_buffer": 5}]}"#);
    let journal = scratch_dir("kube-journal").join("journal.jsonl");
    let program = r#"
import json, socket, time, urllib.request
watcher = socket.socket()
watcher.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
watcher.connect(("kube.test", 8080))
watcher.sendall(b"GET /api/v1/namespaces/default/configmaps?watch=true HTTP/1.1\r\nHost: kube.test\r\n\r\n")
url = "http://kube.test:8080/api/v1/namespaces/default/configmaps"
start = time.time()
for i in range(200):
    body = json.dumps({"metadata": {"name": f"c{i}"}, "data": {"blob": "x" * 100000}}).encode()
    request = urllib.request.Request(url, data=body, method="POST", headers={"content-type": "application/json"})
    assert urllib.request.urlopen(request, timeout=10).status == 201
print("writes done", time.time() - start < 60)
watcher.settimeout(10)
while watcher.recv(1 << 20):
    pass
print("watch closed")
listed = json.load(urllib.request.urlopen(url + "?labelSelector=none", timeout=10))
print("still serving", listed["kind"], listed["metadata"]["resourceVersion"])
"#;
    let run = mocket_run(
        &mocks,
        &["--journal", journal.to_str().unwrap()],
        &["python3", "-c", program],
    );
    run.success();
    assert_eq!(
        run.stdout, "writes done True\nwatch closed\nstill serving ConfigMapList 200\n",
        "{}",
        run.stderr
    );
    let journal = std::fs::read_to_string(&journal).unwrap();
    let dropped: Vec<&str> = journal
        .lines()
        .filter(|l| l.contains("a watch fell behind"))
        .collect();
    assert_eq!(dropped.len(), 1, "{journal:.2000}");
    assert!(
        dropped[0].contains("\"protocol\":\"kubernetes\""),
        "{}",
        dropped[0]
    );
    let requests = journal
        .lines()
        .filter(|l| l.contains("\"action\":\"mocked\""))
        .count();
    assert_eq!(requests, 202, "every request is journaled");
}

/// `kubectl` (a Go binary LD_PRELOAD cannot reach) against `mocket serve` with HTTPS and a
/// kubeconfig naming the mocket CA. `--validate=false`: the emulator serves no OpenAPI schema.
#[test]
fn kubectl_against_mocket_serve() {
    if !have("kubectl") {
        eprintln!("kubectl is not installed: skipping (see .ci/run)");
        return;
    }
    let mocks = mocks_file(MOCKS);
    let dir = scratch_dir("kubectl");
    let kubeconfig = kubeconfig(&dir, "https://127.0.0.1:16443", Some("kube.test"));
    let script = format!(
        r#"{mocket} serve --config {mocks} --port 16443 >serve.out 2>serve.err & serve=$!
for i in $(seq 100); do kubectl get --raw /version >/dev/null 2>&1 && break; sleep 0.1; done
set -e
kubectl get cm -o name
kubectl get deploy web -o jsonpath='{{.spec.replicas}}{{"\n"}}'
echo '{{"apiVersion":"v1","kind":"ConfigMap","metadata":{{"name":"made"}},"data":{{"a":"1"}}}}' > made.json
kubectl create --validate=false -f made.json
kubectl get cm -w --output-watch-events -o jsonpath='{{.type}} {{.object.metadata.name}}{{"\n"}}' > watch.out 2>&1 & watch=$!
sleep 1
kubectl label cm made tier=front
kubectl get cm -l 'tier in (front)' -o name
kubectl patch cm made --type=merge -p '{{"data":{{"a":"2"}}}}'
kubectl patch cm made --type=json -p '[{{"op":"add","path":"/data/b","value":"3"}}]'
kubectl get cm made -o jsonpath='{{.data}}{{"\n"}}'
kubectl get cm -A --field-selector metadata.namespace=team -o name
kubectl get widgets -o name
kubectl delete cm made
sleep 1
kill $watch $serve
cat watch.out
"#,
        mocket = mocket_bin().display(),
        mocks = mocks.display(),
    );
    let mut cmd = netns_command(&["sh", "-c", &script]);
    cmd.current_dir(&dir).env("KUBECONFIG", &kubeconfig);
    let run = run(cmd);
    run.success();
    let expected = "\
configmap/seed
1
configmap/made created
configmap/made labeled
configmap/made
configmap/made patched
configmap/made patched
{\"a\":\"2\",\"b\":\"3\"}
configmap/other
widget.example.com/w1
configmap \"made\" deleted
";
    assert!(
        run.stdout.starts_with(expected),
        "{}\n{}",
        run.stdout,
        run.stderr
    );
    let watched: Vec<&str> = run.stdout[expected.len()..].lines().collect();
    assert_eq!(
        watched,
        [
            "ADDED made",
            "ADDED seed",
            "MODIFIED made",
            "MODIFIED made",
            "MODIFIED made",
            "DELETED made",
        ],
        "{}",
        run.stderr
    );
}

/// The Rust `kube` crate (tests/src/bin/mocket-kube-client.rs) with a kubeconfig naming the
/// mocket CA: discovery (classic and aggregated), every verb, the status subresource, a custom
/// resource and a watch, under both placements.
#[test]
fn kube_crate_client_under_both_placements() {
    let mocks = mocks_file(MOCKS);
    let dir = scratch_dir("kube-rs");
    let kubeconfig = kubeconfig(&dir, "https://kube.test:6443", None);
    let client = build_dir().join("mocket-kube-client");
    for placement in PLACEMENTS {
        let run = placement.run(
            &mocks,
            &[client.to_str().unwrap(), kubeconfig.to_str().unwrap()],
        );
        run.success();
        let expected = "\
version v1.32.0-mocket
classic discovery widgets widgets Namespaced
aggregated discovery widgets widgets Namespaced
created made Some(1) true
create again 409 AlreadyExists
get Some({\"a\": \"1\"})
get missing 404 NotFound
label selector made,seed
field selector other
replaced Some({\"a\": \"2\"})
stale replace 409 Conflict
merge patch Some({\"a\": \"2\", \"b\": \"3\"})
strategic patch Some({\"b\": \"3\"})
status Some(1)
deleted made then 404 NotFound
widgets w1,w2
event ADDED w
event MODIFIED w
event DELETED w
ordered true
timed out 0
";
        assert_eq!(run.stdout, expected, "{placement:?}: {}", run.stderr);
    }
}

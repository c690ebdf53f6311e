"""The Python `kubernetes` client against mocket's Kubernetes emulator (tests/tests/kubernetes.rs).

`python3 kubernetes_client.py MODE [ARGS]`, against https://kube.test:6443 with the mocket CA
(SSL_CERT_FILE under `mocket run`; under a bare LD_PRELOAD the shim adds the CA to OpenSSL's
stores). Prints one line per observation; the test compares them.
"""
import json
import sys
import threading

from kubernetes import client, watch
from kubernetes.client.rest import ApiException


def api_client():
    cfg = client.Configuration()
    cfg.host = "https://kube.test:6443"
    cfg.api_key = {"authorization": "Bearer test-token"}
    return client.ApiClient(cfg)


def failure(call):
    """The status code and Status reason of a call that must fail."""
    try:
        call()
    except ApiException as e:
        return f"{e.status} {json.loads(e.body)['reason']}"
    return "no error"


def names(items):
    return ",".join(o.metadata.name if hasattr(o, "metadata") else o["metadata"]["name"] for o in items)


def verbs():
    api = api_client()
    core, apps = client.CoreV1Api(api), client.AppsV1Api(api)
    custom = client.CustomObjectsApi(api)
    print("version", client.VersionApi(api).get_code().git_version)
    groups = [g.name for g in client.ApisApi(api).get_api_versions().groups]
    print("groups", ",".join(groups))
    print("seeded", names(core.list_namespaced_config_map("default").items))
    cm = client.V1ConfigMap(metadata=client.V1ObjectMeta(name="made", labels={"app": "web"}), data={"a": "1"})
    made = core.create_namespaced_config_map("default", cm)
    print("created", made.metadata.name, made.metadata.namespace, made.metadata.generation, bool(made.metadata.uid),
          bool(made.metadata.creation_timestamp))
    print("create again", failure(lambda: core.create_namespaced_config_map("default", cm)))
    print("get", core.read_namespaced_config_map("made", "default").data)
    print("get missing", failure(lambda: core.read_namespaced_config_map("nope", "default")))
    print("label selector", names(core.list_config_map_for_all_namespaces(label_selector="app in (web),tier!=db").items))
    print("field selector", names(core.list_config_map_for_all_namespaces(field_selector="metadata.namespace=team").items))
    print("bad selector", failure(lambda: core.list_namespaced_config_map("default", label_selector="app in (")))
    made.data = {"a": "2"}
    replaced = core.replace_namespaced_config_map("made", "default", made)
    print("replaced", replaced.data, int(replaced.metadata.resource_version) > int(made.metadata.resource_version))
    print("stale replace", failure(lambda: core.replace_namespaced_config_map("made", "default", made)))
    patched = core.patch_namespaced_config_map("made", "default", {"data": {"b": "3"}})
    print("strategic patch", patched.data)
    patched = core.patch_namespaced_config_map("made", "default", [{"op": "remove", "path": "/data/a"}])
    print("json patch", patched.data)
    dep = apps.read_namespaced_deployment("web", "default")
    status = apps.patch_namespaced_deployment_status("web", "default", {"status": {"readyReplicas": 2}})
    print("status", status.status.ready_replicas, status.spec.replicas, status.metadata.generation == dep.metadata.generation)
    widget = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w2"}, "spec": {"size": 2}}
    custom.create_namespaced_custom_object("example.com", "v1", "default", "widgets", widget)
    print("widgets", names(custom.list_namespaced_custom_object("example.com", "v1", "default", "widgets")["items"]))
    got = custom.patch_namespaced_custom_object("example.com", "v1", "default", "widgets", "w2", {"spec": {"size": 3}})
    print("widget patched", got["spec"]["size"], got["metadata"]["generation"])
    core.delete_namespaced_config_map("made", "default")
    print("deleted", failure(lambda: core.read_namespaced_config_map("made", "default")))
    ns = core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name="fresh")))
    print("namespace", ns.metadata.name, ns.metadata.namespace)


def watch_in_order():
    """A watch from the list's resourceVersion sees another thread's writes in order."""
    core = client.CoreV1Api(api_client())
    listed = core.list_namespaced_config_map("default")
    start = listed.metadata.resource_version

    def writer():
        core.create_namespaced_config_map("default", client.V1ConfigMap(metadata=client.V1ObjectMeta(name="w1")))
        core.patch_namespaced_config_map("w1", "default", {"data": {"x": "1"}})
        core.create_namespaced_config_map("team", client.V1ConfigMap(metadata=client.V1ObjectMeta(name="elsewhere")))
        core.delete_namespaced_config_map("w1", "default")

    w = watch.Watch()
    events = w.stream(core.list_namespaced_config_map, "default", resource_version=start, timeout_seconds=20)
    thread = threading.Thread(target=writer)
    thread.start()
    versions = []
    for event in events:
        obj = event["object"]
        print("event", event["type"], obj.metadata.name, obj.data)
        versions.append(int(obj.metadata.resource_version))
        if event["type"] == "DELETED":
            w.stop()
    thread.join()
    print("ordered", versions == sorted(versions) and len(set(versions)) == len(versions))
    # A watch with a timeout ends by itself.
    ended = list(watch.Watch().stream(core.list_namespaced_config_map, "default", label_selector="none=here",
                                      timeout_seconds=1))
    print("timed out", len(ended))


def create(name):
    core = client.CoreV1Api(api_client())
    core.create_namespaced_config_map("default", client.V1ConfigMap(metadata=client.V1ObjectMeta(name=name)))
    print("created", name)


def get(name):
    core = client.CoreV1Api(api_client())
    print("got", core.read_namespaced_config_map(name, "default").metadata.name)


def watch_for(name):
    """Prints `watching`, then waits for another process to create `name`."""
    core = client.CoreV1Api(api_client())
    start = core.list_namespaced_config_map("default").metadata.resource_version
    print("watching", flush=True)
    w = watch.Watch()
    for event in w.stream(core.list_namespaced_config_map, "default", resource_version=start, timeout_seconds=20):
        if event["object"].metadata.name == name:
            print("saw", event["type"], name)
            w.stop()


MODES = {"verbs": verbs, "watch": watch_in_order, "create": create, "get": get, "watch-for": watch_for}

if __name__ == "__main__":
    MODES[sys.argv[1]](*sys.argv[2:])

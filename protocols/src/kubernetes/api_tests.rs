use serde_json::{Value, json};

use super::*;
use crate::http::{Parsed, RequestParser};

const NOW: u64 = 1_795_982_873;

fn emulator() -> Emulator {
    let entry = KubernetesEntry::from_json(&json!({
        "kubernetes": "https://kube.test:6443",
        "resources": [{"group": "example.com", "version": "v1", "kind": "Widget"}],
        "objects": [
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "seed", "labels": {"app": "web"}}, "data": {"k": "v"}},
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "other", "namespace": "team", "labels": {"app": "db"}}},
        ],
        "watch_buffer": 3,
    }))
    .unwrap();
    Emulator::new(&entry, NOW)
}

fn request(method: &str, target: &str, headers: &[(&str, &str)], body: &str) -> Request {
    let mut text = format!(
        "{method} {target} HTTP/1.1\r\nhost: kube.test\r\ncontent-length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        text.push_str(&format!("{name}: {value}\r\n"));
    }
    text.push_str("\r\n");
    text.push_str(body);
    let mut parser = RequestParser::new();
    parser.feed(text.as_bytes());
    match parser.poll() {
        Ok(Some(Parsed::Request(r))) => r,
        other => panic!("{other:?}"),
    }
}

/// Sends a request and returns the status and JSON body of its reply.
fn call(e: &mut Emulator, method: &str, target: &str, body: Value) -> (u16, Value) {
    call_with(e, method, target, &[], body)
}

fn call_with(
    e: &mut Emulator,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: Value,
) -> (u16, Value) {
    let body = if body.is_null() {
        String::new()
    } else {
        body.to_string()
    };
    match e.handle(&request(method, target, headers, &body), NOW) {
        Outcome::Reply(r) => (
            r.status,
            serde_json::from_slice(&r.body).unwrap_or(Value::Null),
        ),
        Outcome::Watch(w) => panic!("a watch: {w:?}"),
    }
}

const CMS: &str = "/api/v1/namespaces/default/configmaps";

fn names(list: &Value) -> Vec<String> {
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["metadata"]["name"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn discovery_documents() {
    let mut e = emulator();
    assert_eq!(
        call(&mut e, "GET", "/version", Value::Null).1["minor"],
        SERVER_MINOR
    );
    assert_eq!(
        call(&mut e, "GET", "/api", Value::Null).1["versions"],
        json!(["v1"])
    );
    let apis = call(&mut e, "GET", "/apis", Value::Null).1;
    assert_eq!(apis["groups"][1]["name"], "example.com");
    assert_eq!(
        call(&mut e, "GET", "/apis/example.com/v1", Value::Null).1["resources"][0]["name"],
        "widgets"
    );
    assert_eq!(
        call(&mut e, "GET", "/apis/example.com", Value::Null).1["preferredVersion"]["version"],
        "v1"
    );
    assert_eq!(
        call(&mut e, "GET", "/apis/nothing.io/v1", Value::Null).0,
        404
    );
    assert_eq!(call(&mut e, "POST", "/api", Value::Null).0, 405);
    let accept =
        "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json";
    let Outcome::Reply(r) = e.handle(&request("GET", "/apis", &[("accept", accept)], ""), NOW)
    else {
        panic!()
    };
    assert_eq!(
        r.content_type,
        "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
    );
    let v: Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(v["kind"], "APIGroupDiscoveryList");
    assert_eq!(
        v["items"][0]["versions"][0]["resources"][0]["resource"],
        "deployments"
    );
}

#[test]
fn create_get_and_server_set_metadata() {
    let mut e = emulator();
    let (status, created) = call(
        &mut e,
        "POST",
        CMS,
        json!({"metadata": {"name": "new"}, "data": {"a": "1"}}),
    );
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["kind"], "ConfigMap");
    assert_eq!(created["apiVersion"], "v1");
    assert_eq!(created["metadata"]["namespace"], "default");
    assert_eq!(created["metadata"]["resourceVersion"], "3");
    assert_eq!(created["metadata"]["generation"], 1);
    assert_eq!(
        created["metadata"]["creationTimestamp"],
        "2026-11-29T20:07:53Z"
    );
    assert!(created["metadata"]["uid"].as_str().unwrap().len() == 36);
    assert_eq!(
        call(&mut e, "GET", &format!("{CMS}/new"), Value::Null).1,
        created
    );
    let (status, again) = call(&mut e, "POST", CMS, json!({"metadata": {"name": "new"}}));
    assert_eq!(
        (status, again["reason"].as_str()),
        (409, Some("AlreadyExists"))
    );
    assert_eq!(again["kind"], "Status");
    let (status, missing) = call(&mut e, "GET", &format!("{CMS}/nope"), Value::Null);
    assert_eq!(
        (status, missing["reason"].as_str()),
        (404, Some("NotFound"))
    );
    assert_eq!(missing["message"], "configmaps \"nope\" not found");
    let (status, generated) = call(
        &mut e,
        "POST",
        CMS,
        json!({"metadata": {"generateName": "gen-"}}),
    );
    assert_eq!(status, 201);
    assert!(
        generated["metadata"]["name"]
            .as_str()
            .unwrap()
            .starts_with("gen-")
    );
    assert_eq!(
        call(
            &mut e,
            "POST",
            CMS,
            json!({"kind": "Secret", "metadata": {"name": "x"}})
        )
        .0,
        400
    );
    assert_eq!(
        call(
            &mut e,
            "POST",
            CMS,
            json!({"metadata": {"name": "x", "namespace": "team"}})
        )
        .0,
        400
    );
    assert_eq!(call(&mut e, "POST", CMS, json!({"metadata": {}})).0, 422);
    let (status, bad) = call_with(&mut e, "POST", CMS, &[], Value::Null);
    assert_eq!((status, bad["reason"].as_str()), (400, Some("BadRequest")));
    assert_eq!(
        call(
            &mut e,
            "POST",
            &format!("{CMS}?dryRun=All"),
            json!({"metadata": {"name": "dry"}})
        )
        .0,
        201
    );
    assert_eq!(
        call(&mut e, "GET", &format!("{CMS}/dry"), Value::Null).0,
        404
    );
}

#[test]
fn lists_with_selectors_across_namespaces() {
    let mut e = emulator();
    let (_, all) = call(&mut e, "GET", "/api/v1/configmaps", Value::Null);
    assert_eq!(names(&all), ["seed", "other"]);
    assert_eq!(all["kind"], "ConfigMapList");
    assert_eq!(all["metadata"]["resourceVersion"], "2");
    let (_, web) = call(
        &mut e,
        "GET",
        "/api/v1/configmaps?labelSelector=app%20in%20(web,api)",
        Value::Null,
    );
    assert_eq!(names(&web), ["seed"]);
    let (_, team) = call(
        &mut e,
        "GET",
        "/api/v1/configmaps?fieldSelector=metadata.namespace%3Dteam",
        Value::Null,
    );
    assert_eq!(names(&team), ["other"]);
    let (_, ns) = call(
        &mut e,
        "GET",
        "/api/v1/namespaces/team/configmaps?labelSelector=app!%3Dweb",
        Value::Null,
    );
    assert_eq!(names(&ns), ["other"]);
    let (status, bad) = call(
        &mut e,
        "GET",
        "/api/v1/configmaps?labelSelector=app%20in%20(",
        Value::Null,
    );
    assert_eq!((status, bad["reason"].as_str()), (400, Some("BadRequest")));
    assert_eq!(call(&mut e, "GET", "/api/v1/widgets", Value::Null).0, 404);
    assert_eq!(
        call(&mut e, "GET", "/api/v1/configmaps/seed", Value::Null).0,
        404
    );
    assert_eq!(
        call(&mut e, "GET", "/api/v1/namespaces/x/nodes", Value::Null).0,
        404
    );
    assert_eq!(
        call(
            &mut e,
            "GET",
            "/api/v1/namespaces/default/configmaps/seed/scale",
            Value::Null
        )
        .0,
        404
    );
}

#[test]
fn replace_conflicts_on_a_stale_resource_version() {
    let mut e = emulator();
    let (_, seed) = call(&mut e, "GET", &format!("{CMS}/seed"), Value::Null);
    let mut changed = seed.clone();
    changed["data"]["k"] = json!("v2");
    let (status, replaced) = call(&mut e, "PUT", &format!("{CMS}/seed"), changed.clone());
    assert_eq!(status, 200, "{replaced}");
    assert_eq!(replaced["metadata"]["resourceVersion"], "3");
    assert_eq!(replaced["metadata"]["generation"], 2);
    assert_eq!(replaced["metadata"]["uid"], seed["metadata"]["uid"]);
    let (status, conflict) = call(&mut e, "PUT", &format!("{CMS}/seed"), changed);
    assert_eq!(
        (status, conflict["reason"].as_str()),
        (409, Some("Conflict"))
    );
    let (status, _) = call(
        &mut e,
        "PUT",
        &format!("{CMS}/seed"),
        json!({"metadata": {"name": "other"}}),
    );
    assert_eq!(status, 400);
    assert_eq!(
        call(
            &mut e,
            "PUT",
            &format!("{CMS}/nope"),
            json!({"metadata": {"name": "nope"}})
        )
        .0,
        404
    );
    // Without a resourceVersion the replace is unconditional.
    let (status, r) = call(
        &mut e,
        "PUT",
        &format!("{CMS}/seed"),
        json!({"metadata": {"name": "seed"}, "data": {"z": "1"}}),
    );
    assert_eq!((status, &r["data"]), (200, &json!({"z": "1"})));
}

#[test]
fn patches_and_the_status_subresource() {
    let mut e = emulator();
    let path = format!("{CMS}/seed");
    let merge = [("content-type", "application/merge-patch+json")];
    let (status, p) = call_with(
        &mut e,
        "PATCH",
        &path,
        &merge,
        json!({"metadata": {"labels": {"app": null, "x": "1"}}, "status": {"ignored": true}}),
    );
    assert_eq!(status, 200, "{p}");
    assert_eq!(p["metadata"]["labels"], json!({"x": "1"}));
    assert!(
        p.get("status").is_none(),
        "the main resource does not change status"
    );
    assert_eq!(
        p["metadata"]["generation"], 1,
        "metadata changes keep the generation"
    );
    let strategic = [("content-type", "application/strategic-merge-patch+json")];
    let (_, p) = call_with(
        &mut e,
        "PATCH",
        &path,
        &strategic,
        json!({"data": {"k": "s"}}),
    );
    assert_eq!(
        (
            p["data"]["k"].as_str(),
            p["metadata"]["generation"].as_u64()
        ),
        (Some("s"), Some(2))
    );
    let json_patch = [("content-type", "application/json-patch+json")];
    let (_, p) = call_with(
        &mut e,
        "PATCH",
        &path,
        &json_patch,
        json!([{"op": "add", "path": "/data/j", "value": "1"}]),
    );
    assert_eq!(p["data"], json!({"k": "s", "j": "1"}));
    let (status, failed) = call_with(
        &mut e,
        "PATCH",
        &path,
        &json_patch,
        json!([{"op": "test", "path": "/data/j", "value": "2"}]),
    );
    assert_eq!((status, failed["reason"].as_str()), (422, Some("Invalid")));
    assert_eq!(
        call_with(&mut e, "PATCH", &path, &json_patch, json!({"op": "add"})).0,
        400
    );
    assert_eq!(
        call_with(
            &mut e,
            "PATCH",
            &path,
            &[("content-type", "application/apply-patch+yaml")],
            json!({})
        )
        .0,
        415
    );
    let (status, stale) = call_with(
        &mut e,
        "PATCH",
        &path,
        &merge,
        json!({"metadata": {"resourceVersion": "1"}}),
    );
    assert_eq!((status, stale["reason"].as_str()), (409, Some("Conflict")));
    // status: only status changes.
    let (status, s) = call_with(
        &mut e,
        "PATCH",
        &format!("{path}/status"),
        &merge,
        json!({"status": {"ready": true}, "data": {"k": "no"}}),
    );
    assert_eq!(status, 200, "{s}");
    assert_eq!(
        (&s["status"], &s["data"]["k"]),
        (&json!({"ready": true}), &json!("s"))
    );
    let mut put = s.clone();
    put["status"] = json!({"ready": false});
    let (_, s2) = call(&mut e, "PUT", &format!("{path}/status"), put);
    assert_eq!(s2["status"], json!({"ready": false}));
    assert_eq!(
        call(&mut e, "GET", &format!("{path}/status"), Value::Null).1["status"],
        json!({"ready": false})
    );
}

#[test]
fn delete_and_finalizers() {
    let mut e = emulator();
    let (status, gone) = call(&mut e, "DELETE", &format!("{CMS}/seed"), Value::Null);
    assert_eq!(
        (status, gone["metadata"]["name"].as_str()),
        (200, Some("seed"))
    );
    assert_eq!(
        call(&mut e, "DELETE", &format!("{CMS}/seed"), Value::Null).0,
        404
    );
    call(
        &mut e,
        "POST",
        CMS,
        json!({"metadata": {"name": "held", "finalizers": ["x/y"]}}),
    );
    let (_, marked) = call(&mut e, "DELETE", &format!("{CMS}/held"), Value::Null);
    assert!(marked["metadata"]["deletionTimestamp"].is_string());
    assert_eq!(
        call(&mut e, "GET", &format!("{CMS}/held"), Value::Null).0,
        200
    );
    let merge = [("content-type", "application/merge-patch+json")];
    call_with(
        &mut e,
        "PATCH",
        &format!("{CMS}/held"),
        &merge,
        json!({"metadata": {"finalizers": null}}),
    );
    assert_eq!(
        call(&mut e, "GET", &format!("{CMS}/held"), Value::Null).0,
        404
    );
    let (status, _) = call(
        &mut e,
        "DELETE",
        "/api/v1/namespaces/team/configmaps/other",
        json!({"preconditions": {"resourceVersion": "1"}}),
    );
    assert_eq!(status, 409);
    let (status, deleted) = call(
        &mut e,
        "DELETE",
        "/api/v1/namespaces/team/configmaps?labelSelector=app%3Ddb",
        Value::Null,
    );
    assert_eq!((status, names(&deleted)), (200, vec!["other".to_string()]));
    assert_eq!(call(&mut e, "OPTIONS", CMS, Value::Null).0, 405);
    assert_eq!(call(&mut e, "POST", &format!("{CMS}/x"), json!({})).0, 405);
}

#[test]
fn cluster_scoped_and_custom_resources() {
    let mut e = emulator();
    let (status, ns) = call(
        &mut e,
        "POST",
        "/api/v1/namespaces",
        json!({"metadata": {"name": "team"}}),
    );
    assert_eq!(status, 201, "{ns}");
    assert!(ns["metadata"].get("namespace").is_none());
    assert_eq!(
        call(&mut e, "GET", "/api/v1/namespaces/team", Value::Null).0,
        200
    );
    let merge = [("content-type", "application/merge-patch+json")];
    let (status, s) = call_with(
        &mut e,
        "PATCH",
        "/api/v1/namespaces/team/status",
        &merge,
        json!({"status": {"phase": "Active"}}),
    );
    assert_eq!((status, &s["status"]["phase"]), (200, &json!("Active")));
    let widgets = "/apis/example.com/v1/namespaces/default/widgets";
    let (status, w) = call(
        &mut e,
        "POST",
        widgets,
        json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": {"size": 1}}),
    );
    assert_eq!(status, 201, "{w}");
    assert_eq!(
        names(&call(&mut e, "GET", "/apis/example.com/v1/widgets", Value::Null).1),
        ["w"]
    );
}

fn watch(e: &mut Emulator, target: &str) -> WatchStart {
    match e.handle(&request("GET", target, &[], ""), NOW) {
        Outcome::Watch(w) => w,
        Outcome::Reply(r) => panic!("{} {}", r.status, String::from_utf8_lossy(&r.body)),
    }
}

fn events(lines: &[Vec<u8>]) -> Vec<String> {
    lines
        .iter()
        .map(|l| {
            let v: Value = serde_json::from_slice(l).unwrap();
            format!(
                "{} {}",
                v["type"].as_str().unwrap(),
                v["object"]["metadata"]["name"].as_str().unwrap_or("-")
            )
        })
        .collect()
}

#[test]
fn watches_from_a_resource_version_and_overflow() {
    let mut e = emulator();
    let w = watch(&mut e, &format!("{CMS}?watch=true&timeoutSeconds=5"));
    assert_eq!(events(&w.backlog), ["ADDED seed"]);
    assert_eq!(w.timeout, Some(Duration::from_secs(5)));
    let id = w.id.unwrap();
    call(&mut e, "POST", CMS, json!({"metadata": {"name": "a"}}));
    call(
        &mut e,
        "POST",
        "/api/v1/namespaces/team/configmaps",
        json!({"metadata": {"name": "elsewhere"}}),
    );
    call(&mut e, "DELETE", &format!("{CMS}/a"), Value::Null);
    assert_eq!(events(&e.store().drain(id).lines), ["ADDED a", "DELETED a"]);
    let from = watch(&mut e, "/api/v1/configmaps?watch=1&resourceVersion=3");
    assert_eq!(events(&from.backlog), ["ADDED elsewhere", "DELETED a"]);
    // watch_buffer is 3: a fourth waiting event drops the watch, the writer goes on.
    for i in 0..4 {
        call(
            &mut e,
            "POST",
            CMS,
            json!({"metadata": {"name": format!("n{i}")}}),
        );
    }
    assert!(e.store().drain(id).overflowed);
    assert_eq!(
        call(
            &mut e,
            "GET",
            &format!("{CMS}?watch=true&resourceVersion=x"),
            Value::Null
        )
        .0,
        400
    );
    assert_eq!(
        call(
            &mut e,
            "GET",
            &format!("{CMS}?watch=true&timeoutSeconds=-1"),
            Value::Null
        )
        .0,
        400
    );
}

//! The Rust `kube` crate against mocket's Kubernetes emulator, used as an operator would:
//! `mocket-kube-client KUBECONFIG` connects with that kubeconfig (HTTPS, the mocket CA as its
//! `certificate-authority`), runs discovery (classic and aggregated), every verb on ConfigMaps,
//! the status subresource of a Deployment, a custom resource through `DynamicObject`, and a watch
//! from a list's resourceVersion while another task writes. Prints one line per observation;
//! `tests/tests/kubernetes.rs` compares them. Exits 1 with the error chain on a failure it did
//! not expect.

#![forbid(unsafe_code)]

use std::error::Error;

use futures_util::{StreamExt, TryStreamExt};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, ListParams, Patch,
    PatchParams, PostParams, WatchEvent, WatchParams,
};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::discovery::Discovery;
use kube::{Client, Config, ResourceExt};
use serde_json::json;

type BoxError = Box<dyn Error + Send + Sync>;

fn config_map(name: &str, labels: serde_json::Value) -> Result<ConfigMap, BoxError> {
    Ok(serde_json::from_value(json!({
        "metadata": {"name": name, "labels": labels}, "data": {"a": "1"}
    }))?)
}

/// The status code and reason of a call that must fail.
fn failure<T>(result: kube::Result<T>) -> String {
    match result {
        Err(kube::Error::Api(status)) => format!("{} {}", status.code, status.reason),
        Err(other) => format!("unexpected error: {other}"),
        Ok(_) => "no error".into(),
    }
}

fn names<K: ResourceExt>(items: &[K]) -> String {
    items
        .iter()
        .map(|o| o.name_any())
        .collect::<Vec<_>>()
        .join(",")
}

async fn discovery(client: &Client) -> Result<(), BoxError> {
    let version = client.apiserver_version().await?;
    println!("version {}", version.git_version);
    let classic = Discovery::new(client.clone()).run().await?;
    let aggregated = Discovery::new(client.clone()).run_aggregated().await?;
    for (how, found) in [("classic", classic), ("aggregated", aggregated)] {
        let gvk = GroupVersionKind::gvk("example.com", "v1", "Widget");
        let (resource, caps) = found.resolve_gvk(&gvk).ok_or("Widget not discovered")?;
        println!(
            "{how} discovery widgets {} {:?}",
            resource.plural, caps.scope
        );
    }
    Ok(())
}

async fn verbs(client: &Client) -> Result<(), BoxError> {
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let pp = PostParams::default();
    let made = cms
        .create(&pp, &config_map("made", json!({"app": "web"}))?)
        .await?;
    println!(
        "created {} {:?} {}",
        made.name_any(),
        made.metadata.generation,
        made.metadata.uid.is_some()
    );
    println!("create again {}", failure(cms.create(&pp, &made).await));
    println!("get {:?}", cms.get("made").await?.data);
    println!("get missing {}", failure(cms.get("nope").await));
    let all: Api<ConfigMap> = Api::all(client.clone());
    let web = all.list(&ListParams::default().labels("app=web")).await?;
    println!("label selector {}", names(&web.items));
    let team = all
        .list(&ListParams::default().fields("metadata.namespace=team"))
        .await?;
    println!("field selector {}", names(&team.items));
    let mut changed = made.clone();
    changed.data = Some([("a".to_string(), "2".to_string())].into());
    let replaced = cms.replace("made", &pp, &changed).await?;
    println!("replaced {:?}", replaced.data);
    println!(
        "stale replace {}",
        failure(cms.replace("made", &pp, &changed).await)
    );
    let merge = Patch::Merge(json!({"data": {"b": "3"}}));
    let patched = cms.patch("made", &PatchParams::default(), &merge).await?;
    println!("merge patch {:?}", patched.data);
    let strategic = Patch::Strategic(json!({"data": {"a": null}}));
    let patched = cms
        .patch("made", &PatchParams::default(), &strategic)
        .await?;
    println!("strategic patch {:?}", patched.data);
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "default");
    let status = Patch::Merge(json!({"status": {"readyReplicas": 1}}));
    let web = deployments
        .patch_status("web", &PatchParams::default(), &status)
        .await?;
    println!("status {:?}", web.status.and_then(|s| s.ready_replicas));
    let deleted = cms.delete("made", &DeleteParams::default()).await?;
    println!(
        "deleted {} then {}",
        deleted.left().map(|o| o.name_any()).unwrap_or_default(),
        failure(cms.get("made").await)
    );
    Ok(())
}

async fn custom_resource(client: &Client) -> Result<(), BoxError> {
    let gvk = GroupVersionKind::gvk("example.com", "v1", "Widget");
    let resource = ApiResource::from_gvk_with_plural(&gvk, "widgets");
    let widgets: Api<DynamicObject> = Api::namespaced_with(client.clone(), "default", &resource);
    let mut w2 = DynamicObject::new("w2", &resource);
    w2.data = json!({"spec": {"size": 2}});
    widgets.create(&PostParams::default(), &w2).await?;
    let listed = widgets.list(&ListParams::default()).await?;
    println!("widgets {}", names(&listed.items));
    Ok(())
}

/// A watch from the list's resourceVersion sees a concurrent task's writes, in order.
async fn watch(client: &Client) -> Result<(), BoxError> {
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let start = cms
        .list(&ListParams::default())
        .await?
        .metadata
        .resource_version;
    let start = start.ok_or("a list without a resourceVersion")?;
    let stream = cms
        .watch(&WatchParams::default().timeout(20), &start)
        .await?;
    let writer = {
        let cms = cms.clone();
        tokio::spawn(async move {
            let pp = PostParams::default();
            cms.create(&pp, &config_map("w", json!({}))?).await?;
            let patch = Patch::Merge(json!({"data": {"x": "1"}}));
            cms.patch("w", &PatchParams::default(), &patch).await?;
            cms.delete("w", &DeleteParams::default()).await?;
            Ok::<_, BoxError>(())
        })
    };
    let mut stream = Box::pin(stream);
    let mut versions = Vec::new();
    while let Some(event) = stream.try_next().await? {
        let (kind, object) = match event {
            WatchEvent::Added(o) => ("ADDED", o),
            WatchEvent::Modified(o) => ("MODIFIED", o),
            WatchEvent::Deleted(o) => ("DELETED", o),
            other => return Err(format!("unexpected watch event {other:?}").into()),
        };
        println!("event {kind} {}", object.name_any());
        versions.push(
            object
                .resource_version()
                .unwrap_or_default()
                .parse::<u64>()?,
        );
        if kind == "DELETED" {
            break;
        }
    }
    writer.await??;
    println!("ordered {}", versions.windows(2).all(|w| w[0] < w[1]));
    let quiet = cms
        .watch(&WatchParams::default().labels("none=here").timeout(1), "0")
        .await?;
    println!("timed out {}", Box::pin(quiet).count().await);
    Ok(())
}

async fn run(kubeconfig: &str) -> Result<(), BoxError> {
    let kubeconfig = Kubeconfig::read_from(kubeconfig)?;
    let config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default()).await?;
    let client = Client::try_from(config)?;
    discovery(&client).await?;
    verbs(&client).await?;
    custom_resource(&client).await?;
    watch(&client).await
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let Some(kubeconfig) = std::env::args().nth(1) else {
        eprintln!("usage: mocket-kube-client KUBECONFIG");
        std::process::exit(2);
    };
    if let Err(e) = run(&kubeconfig).await {
        eprintln!("error: {e}");
        let mut cause = e.source();
        while let Some(c) = cause {
            eprintln!("caused by: {c}");
            cause = c.source();
        }
        std::process::exit(1);
    }
}

//! End-to-end tests: the real kube client over turmoil TCP against the fake apiserver.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bloodraven::clock::WallClock;
use chrono::{DateTime, Utc};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{ConfigMap, Event, ObjectReference};
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, ListParams, Patch,
    PatchParams, PostParams, WatchEvent, WatchParams,
};
use serde_json::{json, Value};

use super::{ApiServer, OutageMode};
use crate::simnet::{SimDialer, SimListener};
use crate::trace::{EventKind, Trace};

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// Fixed epoch plus simulated elapsed time.
struct SimClock;

impl WallClock for SimClock {
    fn now(&self) -> DateTime<Utc> {
        let base = DateTime::from_timestamp(1_750_000_000, 0).expect("valid epoch");
        base + chrono::Duration::from_std(turmoil::sim_elapsed().unwrap_or_default())
            .expect("small")
    }
}

fn new_api() -> ApiServer {
    ApiServer::with_bloodraven_crds(Arc::new(SimClock), Trace::new())
}

/// Runs `body` as a turmoil client next to the fake apiserver host.
fn run<F, Fut>(api: ApiServer, body: F)
where
    F: FnOnce(kube::Client, ApiServer) -> Fut + 'static,
    Fut: Future<Output = TestResult> + 'static,
{
    let mut sim = turmoil::Builder::new()
        .tick_duration(Duration::from_millis(10))
        .simulation_duration(Duration::from_secs(600))
        .build();
    let server = api.clone();
    sim.host("apiserver", move || {
        let api = server.clone();
        async move {
            api.serve(Box::new(SimListener::bind(6443).await?)).await?;
            Ok(())
        }
    });
    sim.client("test", async move {
        let client =
            bloodraven::kube_client::client_over(Arc::new(SimDialer), "apiserver", 6443, "default");
        body(client, api).await
    });
    sim.run().unwrap();
}

fn api_code(r: Result<impl std::fmt::Debug, kube::Error>) -> (u16, String) {
    match r {
        Err(kube::Error::Api(s)) => (s.code, s.reason.clone()),
        other => panic!("expected an API error, got {other:?}"),
    }
}

fn cm(name: &str, labels: Value, data: Value) -> ConfigMap {
    serde_json::from_value(json!({"metadata": {"name": name, "labels": labels}, "data": data}))
        .unwrap()
}

fn mfg_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("shipstream.io", "v1alpha1", "MysqlFailoverGroup"),
        "mysqlfailovergroups",
    )
}

fn dns_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("externaldns.k8s.io", "v1alpha1", "DNSEndpoint"),
        "dnsendpoints",
    )
}

fn dynobj(ar: &ApiResource, v: Value) -> DynamicObject {
    let mut v = v;
    v["apiVersion"] = json!(ar.api_version);
    v["kind"] = json!(ar.kind);
    serde_json::from_value(v).unwrap()
}

fn json_patch_request(name: &str, ops: &Value) -> http::Request<Vec<u8>> {
    http::Request::builder()
        .method("PATCH")
        .uri(format!("/api/v1/namespaces/default/configmaps/{name}"))
        .header("content-type", "application/json-patch+json")
        .body(serde_json::to_vec(ops).unwrap())
        .unwrap()
}

fn names(items: &[ConfigMap]) -> Vec<String> {
    items
        .iter()
        .map(|c| c.metadata.name.clone().unwrap())
        .collect()
}

#[test]
fn fake_k8s_create_get_list_with_selectors() {
    let api = new_api();
    let trace = api.trace().clone();
    run(api.clone(), |client, _api| async move {
        let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
        let pp = PostParams::default();
        cms.create(&pp, &cm("c", json!({"app": "db", "site": "b"}), json!({})))
            .await?;
        cms.create(
            &pp,
            &cm("a", json!({"app": "db", "site": "a"}), json!({"k": "v"})),
        )
        .await?;
        cms.create(&pp, &cm("b", json!({"app": "web"}), json!({})))
            .await?;
        let other: Api<ConfigMap> = Api::namespaced(client.clone(), "other");
        other
            .create(&pp, &cm("z", json!({"app": "db"}), json!({})))
            .await?;

        let a = cms.get("a").await?;
        assert_eq!(a.data.unwrap()["k"], "v");
        let uid = a.metadata.uid.unwrap();
        assert_eq!(uid.len(), 36);
        assert_eq!(
            a.metadata.creation_timestamp.unwrap().0.as_second(),
            1_750_000_000
        );
        assert!(a.metadata.resource_version.unwrap().parse::<u64>().unwrap() > 1);

        let all = cms.list(&ListParams::default()).await?;
        assert_eq!(names(&all.items), ["a", "b", "c"]);
        let db = cms.list(&ListParams::default().labels("app=db")).await?;
        assert_eq!(names(&db.items), ["a", "c"]);
        let db_not_a = cms
            .list(&ListParams::default().labels("app=db,site!=a"))
            .await?;
        assert_eq!(names(&db_not_a.items), ["c"]);
        let has_site = cms.list(&ListParams::default().labels("site")).await?;
        assert_eq!(names(&has_site.items), ["a", "c"]);
        let by_name = cms
            .list(&ListParams::default().fields("metadata.name=b"))
            .await?;
        assert_eq!(names(&by_name.items), ["b"]);
        let everywhere: Api<ConfigMap> = Api::all(client.clone());
        let db_all = everywhere
            .list(&ListParams::default().labels("app=db"))
            .await?;
        assert_eq!(names(&db_all.items), ["a", "c", "z"]);
        let in_other = everywhere
            .list(&ListParams::default().fields("metadata.namespace=other"))
            .await?;
        assert_eq!(names(&in_other.items), ["z"]);
        // Paging: limit + continue.
        let page1 = cms.list(&ListParams::default().limit(2)).await?;
        assert_eq!(names(&page1.items), ["a", "b"]);
        let token = page1.metadata.continue_.clone().unwrap();
        let page2 = cms
            .list(&ListParams::default().limit(2).continue_token(&token))
            .await?;
        assert_eq!(names(&page2.items), ["c"]);

        assert_eq!(
            api_code(cms.create(&pp, &cm("a", json!({}), json!({}))).await),
            (409, "AlreadyExists".into())
        );
        assert_eq!(api_code(cms.get("nope").await), (404, "NotFound".into()));

        let mut gen: ConfigMap =
            serde_json::from_value(json!({"metadata": {"generateName": "gen-"}})).unwrap();
        gen = cms.create(&pp, &gen).await?;
        let gname = gen.metadata.name.unwrap();
        assert!(gname.starts_with("gen-") && gname.len() == 9, "{gname}");
        Ok(())
    });
    let creates: Vec<_> = trace
        .events()
        .into_iter()
        .filter_map(|e| match e.kind {
            EventKind::ApiWrite(w) if w.verb == "create" => Some((w.resource, w.name, w.ok)),
            _ => None,
        })
        .collect();
    assert_eq!(creates.len(), 6);
    assert_eq!(
        creates[0],
        ("configmaps".to_string(), "c".to_string(), true)
    );
    assert_eq!(
        creates[4],
        ("configmaps".to_string(), "a".to_string(), false)
    );
    assert!(creates[5].1.starts_with("gen-") && creates[5].2);
}

#[test]
fn fake_k8s_stale_replace_conflicts_and_patches() {
    run(new_api(), |client, _api| async move {
        let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
        let pp = PostParams::default();
        let created = cms
            .create(&pp, &cm("x", json!({}), json!({"a": "1", "b": "2"})))
            .await?;
        let rv0 = created.metadata.resource_version.clone().unwrap();

        // Merge patch (RFC 7386): set one key, delete another.
        let merged = cms
            .patch(
                "x",
                &PatchParams::default(),
                &Patch::Merge(json!({"data": {"a": "10", "b": null}})),
            )
            .await?;
        let data = merged.data.clone().unwrap();
        assert_eq!(data.get("a").map(String::as_str), Some("10"));
        assert!(!data.contains_key("b"));
        assert_ne!(merged.metadata.resource_version.clone().unwrap(), rv0);

        // Replace with the stale object: 409 Conflict; with the fresh one: ok.
        let (code, reason) = api_code(cms.replace("x", &pp, &created).await);
        assert_eq!((code, reason.as_str()), (409, "Conflict"));
        let mut fresh = cms.get("x").await?;
        fresh.data.as_mut().unwrap().insert("c".into(), "3".into());
        let replaced = cms.replace("x", &pp, &fresh).await?;
        assert_eq!(replaced.data.unwrap()["c"], "3");

        // A no-op patch does not bump the resourceVersion.
        let before = cms.get("x").await?.metadata.resource_version.unwrap();
        let same = cms
            .patch(
                "x",
                &PatchParams::default(),
                &Patch::Merge(json!({"data": {"a": "10"}})),
            )
            .await?;
        assert_eq!(same.metadata.resource_version.unwrap(), before);

        // JSON patch (RFC 6902), sent raw (kube's Patch::Json needs a feature we do not enable).
        let ops = json!([
            {"op": "test", "path": "/data/a", "value": "10"},
            {"op": "add", "path": "/data/d", "value": "4"},
            {"op": "replace", "path": "/data/a", "value": "11"},
            {"op": "remove", "path": "/data/c"}
        ]);
        let jp: ConfigMap = client.request(json_patch_request("x", &ops)).await?;
        let data = jp.data.unwrap();
        assert_eq!(data.get("a").map(String::as_str), Some("11"));
        assert_eq!(data.get("d").map(String::as_str), Some("4"));
        assert!(!data.contains_key("c"));
        let failing = json!([{"op": "test", "path": "/data/a", "value": "nope"}]);
        assert_eq!(
            api_code(
                client
                    .request::<ConfigMap>(json_patch_request("x", &failing))
                    .await
            )
            .0,
            422
        );

        // A merge patch carrying a stale resourceVersion is a precondition: 409.
        let stale = cms
            .patch(
                "x",
                &PatchParams::default(),
                &Patch::Merge(json!({"metadata": {"resourceVersion": rv0}, "data": {"a": "x"}})),
            )
            .await;
        assert_eq!(api_code(stale).0, 409);
        assert_eq!(
            api_code(
                cms.patch("nope", &PatchParams::default(), &Patch::Merge(json!({})))
                    .await
            )
            .0,
            404
        );
        Ok(())
    });
}

#[test]
fn fake_k8s_server_side_apply() {
    let api = new_api();
    run(api.clone(), |client, _api| async move {
        let ar = mfg_resource();
        let groups: Api<DynamicObject> = Api::namespaced_with(client, "default", &ar);
        let pp = PatchParams::apply("bloodraven").force();
        let first = dynobj(
            &ar,
            json!({"metadata": {"name": "g", "labels": {"a": "1", "b": "2"}}, "spec": {"sites": ["a", "b"], "primary": "a"}}),
        );
        let created = groups.patch("g", &pp, &Patch::Apply(&first)).await?;
        assert_eq!(created.data["spec"]["primary"], "a");
        assert_eq!(created.metadata.generation, Some(1));
        let mf = created.metadata.managed_fields.clone().unwrap();
        assert_eq!(mf[0].manager.as_deref(), Some("bloodraven"));
        assert_eq!(mf[0].operation.as_deref(), Some("Apply"));

        // Same apply again: nothing changes.
        let again = groups.patch("g", &pp, &Patch::Apply(&first)).await?;
        assert_eq!(
            again.metadata.resource_version,
            created.metadata.resource_version
        );

        // Update: change a field, drop label b (owned only by us: removed).
        let second = dynobj(
            &ar,
            json!({"metadata": {"name": "g", "labels": {"a": "1"}}, "spec": {"sites": ["a", "b"], "primary": "b"}}),
        );
        let updated = groups.patch("g", &pp, &Patch::Apply(&second)).await?;
        assert_eq!(updated.data["spec"]["primary"], "b");
        assert_eq!(updated.metadata.generation, Some(2));
        let labels = updated.metadata.labels.clone().unwrap();
        assert_eq!(labels.get("a").map(String::as_str), Some("1"));
        assert!(!labels.contains_key("b"), "{labels:?}");

        // Another manager applying a different value conflicts unless forced.
        let other = dynobj(
            &ar,
            json!({"metadata": {"name": "g"}, "spec": {"primary": "c"}}),
        );
        let r = groups
            .patch("g", &PatchParams::apply("kubectl"), &Patch::Apply(&other))
            .await;
        assert_eq!(api_code(r), (409, "Conflict".into()));
        let forced = groups
            .patch(
                "g",
                &PatchParams::apply("kubectl").force(),
                &Patch::Apply(&other),
            )
            .await?;
        assert_eq!(forced.data["spec"]["primary"], "c");
        assert_eq!(forced.data["spec"]["sites"], json!(["a", "b"]));
        Ok(())
    });
    let g = api
        .get("mysqlfailovergroups.shipstream.io", "default", "g")
        .unwrap();
    let managers: Vec<&str> = g["metadata"]["managedFields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["manager"].as_str().unwrap())
        .collect();
    assert_eq!(managers, ["bloodraven", "kubectl"]);
}

#[test]
fn fake_k8s_status_subresource_isolation_and_generation() {
    run(new_api(), |client, _api| async move {
        let ar = mfg_resource();
        let groups: Api<DynamicObject> = Api::namespaced_with(client, "default", &ar);
        let obj = dynobj(
            &ar,
            json!({"metadata": {"name": "g"}, "spec": {"primary": "a"}, "status": {"phase": "Bogus"}}),
        );
        let created = groups.create(&PostParams::default(), &obj).await?;
        assert!(
            created.data.get("status").is_none(),
            "status is dropped on create"
        );
        assert_eq!(created.metadata.generation, Some(1));

        // patch_status changes only status (spec in the patch is ignored), generation unchanged.
        let st = groups
            .patch_status(
                "g",
                &PatchParams::default(),
                &Patch::Merge(json!({"spec": {"primary": "zzz"}, "status": {"phase": "Healthy"}})),
            )
            .await?;
        assert_eq!(st.data["status"]["phase"], "Healthy");
        assert_eq!(st.data["spec"]["primary"], "a");
        assert_eq!(st.metadata.generation, Some(1));

        // Main patch ignores status; spec change bumps generation.
        let main = groups
            .patch(
                "g",
                &PatchParams::default(),
                &Patch::Merge(json!({"spec": {"primary": "b"}, "status": {"phase": "Hacked"}})),
            )
            .await?;
        assert_eq!(main.data["status"]["phase"], "Healthy");
        assert_eq!(main.data["spec"]["primary"], "b");
        assert_eq!(main.metadata.generation, Some(2));

        // Metadata-only change: no generation bump.
        let labelled = groups
            .patch(
                "g",
                &PatchParams::default(),
                &Patch::Merge(json!({"metadata": {"labels": {"x": "y"}}})),
            )
            .await?;
        assert_eq!(labelled.metadata.generation, Some(2));
        assert_ne!(
            labelled.metadata.resource_version,
            main.metadata.resource_version
        );

        // replace_status with a fresh object changes status; replace ignores status.
        let mut cur = groups.get("g").await?;
        cur.data["status"] = json!({"phase": "Failover"});
        let rs = groups
            .replace_status("g", &PostParams::default(), &cur)
            .await?;
        assert_eq!(rs.data["status"]["phase"], "Failover");
        let mut cur = groups.get("g").await?;
        cur.data["status"] = json!({"phase": "Nope"});
        let rp = groups.replace("g", &PostParams::default(), &cur).await?;
        assert_eq!(rp.data["status"]["phase"], "Failover");

        // Configmaps have no status subresource.
        let cms: Api<ConfigMap> = Api::namespaced(groups.clone().into_client(), "default");
        cms.create(&PostParams::default(), &cm("c", json!({}), json!({})))
            .await?;
        assert_eq!(
            api_code(
                cms.patch_status("c", &PatchParams::default(), &Patch::Merge(json!({})))
                    .await
            )
            .0,
            404
        );
        Ok(())
    });
}

#[test]
fn fake_k8s_denied_writes_are_forbidden_and_traced() {
    let api = new_api();
    let trace = api.trace().clone();
    run(api.clone(), |client, api| async move {
        let ar = mfg_resource();
        let groups: Api<DynamicObject> = Api::namespaced_with(client.clone(), "default", &ar);
        groups
            .create(
                &PostParams::default(),
                &dynobj(
                    &ar,
                    json!({"metadata": {"name": "g"}, "spec": {"primary": "a"}}),
                ),
            )
            .await?;

        api.deny("mysqlfailovergroups", Some("status"));
        let r = groups
            .patch_status(
                "g",
                &PatchParams::default(),
                &Patch::Merge(json!({"status": {"phase": "x"}})),
            )
            .await;
        match r {
            Err(kube::Error::Api(s)) => {
                assert_eq!((s.code, s.reason.as_str()), (403, "Forbidden"));
                assert!(
                    s.message
                        .contains("cannot patch resource \"mysqlfailovergroups/status\""),
                    "{}",
                    s.message
                );
            }
            other => panic!("expected 403, got {other:?}"),
        }
        // The main resource stays writable, and reads work.
        groups
            .patch(
                "g",
                &PatchParams::default(),
                &Patch::Merge(json!({"spec": {"primary": "b"}})),
            )
            .await?;
        assert!(groups.get("g").await?.data.get("status").is_none());
        api.allow("mysqlfailovergroups", Some("status"));
        let ok = groups
            .patch_status(
                "g",
                &PatchParams::default(),
                &Patch::Merge(json!({"status": {"phase": "x"}})),
            )
            .await?;
        assert_eq!(ok.data["status"]["phase"], "x");

        let dar = dns_resource();
        let dns: Api<DynamicObject> = Api::namespaced_with(client, "default", &dar);
        api.deny("dnsendpoints", None);
        let ep = dynobj(
            &dar,
            json!({"metadata": {"name": "db"}, "spec": {"endpoints": [{"dnsName": "db.example", "targets": ["a"]}]}}),
        );
        assert_eq!(
            api_code(dns.create(&PostParams::default(), &ep).await),
            (403, "Forbidden".into())
        );
        assert!(dns.list(&ListParams::default()).await?.items.is_empty());
        api.allow("dnsendpoints", None);
        dns.create(&PostParams::default(), &ep).await?;
        Ok(())
    });
    let writes: Vec<(String, String, Option<String>, bool)> = trace
        .events()
        .into_iter()
        .filter_map(|e| match e.kind {
            EventKind::ApiWrite(w) => Some((w.verb, w.resource, w.subresource, w.ok)),
            _ => None,
        })
        .collect();
    let s = |x: &str| x.to_string();
    assert_eq!(
        writes,
        [
            (s("create"), s("mysqlfailovergroups"), None, true),
            (
                s("patch"),
                s("mysqlfailovergroups"),
                Some(s("status")),
                false
            ),
            (s("patch"), s("mysqlfailovergroups"), None, true),
            (
                s("patch"),
                s("mysqlfailovergroups"),
                Some(s("status")),
                true
            ),
            (s("create"), s("dnsendpoints"), None, false),
            (s("create"), s("dnsendpoints"), None, true),
        ]
    );
    let patch_detail = trace.events().into_iter().find_map(|e| match e.kind {
        EventKind::ApiWrite(w) if w.ok && w.verb == "patch" => Some(w.detail),
        _ => None,
    });
    assert!(patch_detail.unwrap().contains("\"primary\":\"b\""));
}

#[test]
fn fake_k8s_outages_and_latency() {
    run(new_api(), |client, api| async move {
        let cms: Api<ConfigMap> = Api::namespaced(client, "default");
        cms.create(&PostParams::default(), &cm("c", json!({}), json!({})))
            .await?;
        api.set_outage(Some(OutageMode::Refuse503));
        assert_eq!(
            api_code(cms.get("c").await),
            (503, "ServiceUnavailable".into())
        );
        assert_eq!(
            api_code(
                cms.create(&PostParams::default(), &cm("d", json!({}), json!({})))
                    .await
            )
            .0,
            503
        );
        api.set_outage(Some(OutageMode::Hang));
        let t0 = tokio::time::Instant::now();
        match cms.get("c").await {
            Err(kube::Error::Api(s)) => panic!("a hang must not answer, got {s:?}"),
            Err(_) => {}
            Ok(_) => panic!("a hang must not answer"),
        }
        assert!(
            t0.elapsed() >= Duration::from_secs(10),
            "the client's own timeout fired"
        );
        api.set_outage(None);
        cms.get("c").await?;
        api.set_latency(Duration::from_secs(3));
        let t0 = tokio::time::Instant::now();
        cms.get("c").await?;
        assert!(t0.elapsed() >= Duration::from_secs(3));
        Ok(())
    });
}

#[test]
fn fake_k8s_watch_events_and_gone() {
    run(new_api(), |client, api| async move {
        let cms: Api<ConfigMap> = Api::namespaced(client, "default");
        let c = cms
            .create(
                &PostParams::default(),
                &cm("c", json!({"app": "db"}), json!({})),
            )
            .await?;
        let rv = c.metadata.resource_version.unwrap();
        let stream = cms
            .watch(&WatchParams::default().labels("app=db").timeout(60), &rv)
            .await?;
        let mut stream = stream.boxed();
        cms.patch(
            "c",
            &PatchParams::default(),
            &Patch::Merge(json!({"data": {"k": "v"}})),
        )
        .await?;
        cms.create(
            &PostParams::default(),
            &cm("other", json!({"app": "web"}), json!({})),
        )
        .await?;
        cms.create(
            &PostParams::default(),
            &cm("d", json!({"app": "db"}), json!({})),
        )
        .await?;
        cms.delete("c", &DeleteParams::default()).await?;
        let mut seen = Vec::new();
        while seen.len() < 3 {
            match stream.try_next().await?.expect("stream open") {
                WatchEvent::Added(o) => seen.push(format!("ADDED {}", o.metadata.name.unwrap())),
                WatchEvent::Modified(o) => {
                    seen.push(format!("MODIFIED {}", o.metadata.name.unwrap()))
                }
                WatchEvent::Deleted(o) => {
                    seen.push(format!("DELETED {}", o.metadata.name.unwrap()))
                }
                WatchEvent::Bookmark(_) => {}
                WatchEvent::Error(e) => panic!("unexpected error {e:?}"),
            }
        }
        assert_eq!(seen, ["MODIFIED c", "ADDED d", "DELETED c"]);
        // Bookmarks arrive every 10 s of virtual time when allowed.
        match tokio::time::timeout(Duration::from_secs(15), stream.try_next()).await?? {
            Some(WatchEvent::Bookmark(b)) => assert!(!b.metadata.resource_version.is_empty()),
            other => panic!("expected a bookmark, got {other:?}"),
        }

        // Watch from scratch ("0"): synthetic ADDED for the current state.
        let mut all = cms
            .watch(&WatchParams::default().timeout(5), "0")
            .await?
            .boxed();
        match all.try_next().await? {
            Some(WatchEvent::Added(o)) => assert_eq!(o.metadata.name.as_deref(), Some("d")),
            other => panic!("expected ADDED d, got {other:?}"),
        }
        // timeoutSeconds ends the stream.
        let t0 = tokio::time::Instant::now();
        while let Some(ev) = all.try_next().await? {
            assert!(matches!(ev, WatchEvent::Bookmark(_) | WatchEvent::Added(_)));
        }
        assert!(t0.elapsed() <= Duration::from_secs(6));

        // Too old a resourceVersion: one ERROR event with 410, then the end.
        api.compact_history();
        let mut old = cms.watch(&WatchParams::default(), &rv).await?.boxed();
        match old.try_next().await? {
            Some(WatchEvent::Error(s)) => assert_eq!(s.code, 410),
            other => panic!("expected 410, got {other:?}"),
        }
        assert!(old.try_next().await?.is_none());

        // drop_watches ends open streams.
        let now = cms
            .list(&ListParams::default())
            .await?
            .metadata
            .resource_version
            .unwrap();
        let mut w = cms.watch(&WatchParams::default(), &now).await?.boxed();
        api.drop_watches();
        assert!(tokio::time::timeout(Duration::from_secs(5), w.try_next())
            .await??
            .is_none());
        Ok(())
    });
}

#[test]
fn fake_k8s_events_and_finalizers() {
    let api = new_api();
    run(api.clone(), |client, _api| async move {
        let events: Api<Event> = Api::namespaced(client.clone(), "default");
        let ev = Event {
            metadata: kube::api::ObjectMeta {
                generate_name: Some("g.".into()),
                ..Default::default()
            },
            involved_object: ObjectReference {
                kind: Some("MysqlFailoverGroup".into()),
                name: Some("g".into()),
                namespace: Some("default".into()),
                ..Default::default()
            },
            reason: Some("Failover".into()),
            message: Some("promoted site b".into()),
            type_: Some("Warning".into()),
            ..Default::default()
        };
        let created = events.create(&PostParams::default(), &ev).await?;
        assert!(created.metadata.name.unwrap().starts_with("g."));
        let listed = events
            .list(&ListParams::default().fields("involvedObject.name=g"))
            .await?;
        assert_eq!(listed.items.len(), 1);
        assert_eq!(listed.items[0].reason.as_deref(), Some("Failover"));

        // events.k8s.io/v1 too.
        let new_events: Api<k8s_openapi::api::events::v1::Event> =
            Api::namespaced(client.clone(), "default");
        let ne: k8s_openapi::api::events::v1::Event = serde_json::from_value(json!({
            "metadata": {"name": "e1"}, "eventTime": "2025-06-15T00:00:00.000000Z", "reason": "Fenced",
            "action": "Fence", "reportingController": "bloodraven", "reportingInstance": "bloodraven-0", "type": "Normal"
        }))?;
        new_events.create(&PostParams::default(), &ne).await?;
        assert_eq!(
            new_events.get("e1").await?.reason.as_deref(),
            Some("Fenced")
        );

        // Delete with a finalizer: deletionTimestamp set, object kept until the finalizer goes.
        let cms: Api<ConfigMap> = Api::namespaced(client, "default");
        let mut f = cm("f", json!({}), json!({}));
        f.metadata.finalizers = Some(vec!["bloodraven.shipstream.io/fence".into()]);
        cms.create(&PostParams::default(), &f).await?;
        cms.delete("f", &DeleteParams::default()).await?;
        let terminating = cms.get("f").await?;
        assert!(terminating.metadata.deletion_timestamp.is_some());
        let r = cms
            .patch(
                "f",
                &PatchParams::default(),
                &Patch::Merge(
                    json!({"metadata": {"finalizers": ["a", "bloodraven.shipstream.io/fence"]}}),
                ),
            )
            .await;
        assert_eq!(api_code(r).0, 403, "no new finalizers while deleting");
        cms.patch(
            "f",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"finalizers": null}})),
        )
        .await?;
        assert_eq!(api_code(cms.get("f").await).0, 404);

        // Owner references: deleting the owner collects the dependent.
        let owner = cms
            .create(&PostParams::default(), &cm("owner", json!({}), json!({})))
            .await?;
        let dep: ConfigMap = serde_json::from_value(
            json!({"metadata": {"name": "dep", "ownerReferences": [
                {"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": owner.metadata.uid.unwrap()}
            ]}}),
        )?;
        cms.create(&PostParams::default(), &dep).await?;
        cms.delete("owner", &DeleteParams::default()).await?;
        assert_eq!(api_code(cms.get("dep").await).0, 404);
        Ok(())
    });
    assert_eq!(api.list("events", Some("default")).len(), 1);
    assert_eq!(api.list("events.events.k8s.io", None).len(), 1);
}

#[test]
fn fake_k8s_discovery_and_crd_registration() {
    let api = new_api();
    run(api.clone(), |client, _api| async move {
        let v = client.apiserver_version().await?;
        assert_eq!(
            (v.major.as_str(), v.minor.as_str(), v.git_version.as_str()),
            ("1", "33", "v1.33.0-fake")
        );

        // Register a new CRD through the API; it becomes servable and discoverable.
        let crds: Api<k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition> =
            Api::all(client.clone());
        let crd = serde_json::from_value(json!({
            "metadata": {"name": "widgets.example.com"},
            "spec": {"group": "example.com", "scope": "Cluster",
                     "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
                     "versions": [{"name": "v1", "served": true, "storage": true,
                                   "schema": {"openAPIV3Schema": {"type": "object"}}}]}
        }))?;
        let created = crds.create(&PostParams::default(), &crd).await?;
        let conds = created.status.unwrap().conditions.unwrap();
        assert!(conds
            .iter()
            .any(|c| c.type_ == "Established" && c.status == "True"));

        let discovery = kube::discovery::Discovery::new(client.clone())
            .run()
            .await?;
        let (mfg, caps) = discovery
            .resolve_gvk(&GroupVersionKind::gvk(
                "shipstream.io",
                "v1alpha1",
                "MysqlFailoverGroup",
            ))
            .expect("mfg discovered");
        assert_eq!(mfg.plural, "mysqlfailovergroups");
        assert_eq!(caps.scope, kube::discovery::Scope::Namespaced);
        assert!(caps.subresources.iter().any(|(r, _)| r.plural == "status"));
        let (w, wcaps) = discovery
            .resolve_gvk(&GroupVersionKind::gvk("example.com", "v1", "Widget"))
            .expect("widget discovered");
        assert_eq!(wcaps.scope, kube::discovery::Scope::Cluster);
        let widgets: Api<DynamicObject> = Api::all_with(client.clone(), &w);
        widgets
            .create(
                &PostParams::default(),
                &dynobj(&w, json!({"metadata": {"name": "w1"}, "spec": {}})),
            )
            .await?;
        assert_eq!(widgets.list(&ListParams::default()).await?.items.len(), 1);
        assert!(discovery
            .resolve_gvk(&GroupVersionKind::gvk("apps", "v1", "Deployment"))
            .is_some());
        assert!(discovery
            .resolve_gvk(&GroupVersionKind::gvk("coordination.k8s.io", "v1", "Lease"))
            .is_some());

        // Deleting the CRD removes its objects and the resource.
        crds.delete("widgets.example.com", &DeleteParams::default())
            .await?;
        assert_eq!(api_code(widgets.list(&ListParams::default()).await).0, 404);
        Ok(())
    });
    assert!(api
        .get("crd", "", "mysqlfailovergroups.shipstream.io")
        .is_some());
    assert_eq!(api.list("namespaces", None).len(), 4);
}

#[test]
fn fake_k8s_direct_accessors() {
    let api = new_api();
    let pod = api
        .put_raw("pods", json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "db"}, "status": {"phase": "Running"}}))
        .unwrap();
    assert_eq!(pod["metadata"]["generation"], 1);
    let rv: u64 = pod["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(rv, api.resource_version());
    let m = api
        .modify("pods", "db", "p", |p| {
            p["status"]["phase"] = json!("Failed")
        })
        .unwrap();
    assert_eq!(m["status"]["phase"], "Failed");
    assert_eq!(
        api.get("po", "db", "p").unwrap()["status"]["phase"],
        "Failed"
    );
    assert!(api.get("pods", "default", "p").is_none());
    assert!(api.delete_raw("pods", "db", "p").is_some());
    assert!(api.list("pods", None).is_empty());
    assert!(api.put_raw("nonsense", json!({})).is_err());
}

/// The real `kubectl` against the fake apiserver on loopback (skipped when kubectl is absent).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fake_k8s_kubectl_smoke() {
    let Some(kubectl_bin) = super::kubectl_for_test("fake_k8s_kubectl_smoke") else {
        return;
    };
    let api = new_api();
    let lb = api.serve_loopback("default").await.unwrap();
    let (dir, kubeconfig) = (lb.dir.clone(), lb.kubeconfig.clone());
    let mfg = dir.join("mfg.yaml");
    std::fs::write(
        &mfg,
        "apiVersion: shipstream.io/v1alpha1\nkind: MysqlFailoverGroup\nmetadata:\n  name: g1\n  namespace: default\nspec:\n  primary: a\n",
    )
    .unwrap();
    let kubectl = |args: Vec<String>| {
        let kubeconfig = kubeconfig.clone();
        let kubectl_bin = kubectl_bin.clone();
        let cache = dir.join("cache");
        async move {
            tokio::task::spawn_blocking(move || {
                let out = std::process::Command::new(kubectl_bin)
                    .arg("--kubeconfig")
                    .arg(&kubeconfig)
                    .arg("--cache-dir")
                    .arg(&cache)
                    .args(&args)
                    .output()
                    .unwrap();
                let text = String::from_utf8_lossy(&out.stdout).into_owned();
                let err = String::from_utf8_lossy(&out.stderr).into_owned();
                assert!(
                    out.status.success(),
                    "kubectl {args:?} failed:\n{text}\n{err}"
                );
                text
            })
            .await
            .unwrap()
        }
    };
    let a = |s: &str| s.split_whitespace().map(str::to_string).collect::<Vec<_>>();
    let cm_file = dir.join("cm.yaml");
    std::fs::write(
        &cm_file,
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: k1\ndata:\n  a: b\n",
    )
    .unwrap();
    // Typed kubectl commands (`create configmap`) send protobuf, which the fake refuses (415);
    // `create -f`/`apply` send JSON. Validation stays on: kubectl reads the OpenAPI v3
    // documents and leaves strict field validation to the server.
    kubectl(vec![
        "create".into(),
        "-f".into(),
        cm_file.display().to_string(),
    ])
    .await;
    let out = kubectl(a("get configmaps")).await;
    assert!(out.contains("k1"), "{out}");
    kubectl(a("label configmap k1 tier=db")).await;
    let out = kubectl(a("get cm -l tier=db -o name")).await;
    assert_eq!(out.trim(), "configmap/k1");
    kubectl(vec![
        "apply".into(),
        "--server-side".into(),
        "-f".into(),
        mfg.display().to_string(),
    ])
    .await;
    let out = kubectl(a("get mysqlfailovergroups -A")).await;
    assert!(out.contains("g1"), "{out}");
    let out = kubectl(a("describe mysqlfailovergroup g1")).await;
    assert!(out.contains("Primary"), "{out}");
    let out = kubectl(a("get crd")).await;
    assert!(out.contains("dnsendpoints.externaldns.k8s.io"), "{out}");
    kubectl(a("delete configmap k1")).await;
    assert!(api.get("configmaps", "default", "k1").is_none());
    assert_eq!(
        api.get("mysqlfailovergroups", "default", "g1").unwrap()["spec"]["primary"],
        "a"
    );
}

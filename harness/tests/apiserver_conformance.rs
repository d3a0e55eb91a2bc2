//! One table of apiserver operations, run against two identical fake apiservers on loopback:
//! one driven through `kube::Client` (what the controller and the plugin use), one through
//! the real `kubectl` binary (with its default client behaviour: OpenAPI discovery and strict
//! field validation on). Every outcome must be the same: the object returned (minus
//! `managedFields`, which name the client), or the error reason and message.
//!
//! kubectl is looked up on PATH, then in ~/.local/bin; without it the kubectl half is skipped
//! with a printed reason, unless CHAOS_REQUIRE_KUBECTL=1 (CI), where that is a failure.

use std::path::PathBuf;
use std::sync::Arc;

use chaos::fake_k8s::{kubectl_for_test, ApiServer, Loopback};
use chaos::trace::Trace;
use chaos::world::clock::SimClock;
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, ListParams, Patch,
    PatchParams, PostParams, ValidationDirective,
};
use serde_json::{json, Value};

const NS: &str = "conf";

/// What one operation returned: the object(s), or an API error (reason, message).
#[derive(Debug, PartialEq)]
enum Outcome {
    Object(Value),
    Names(Vec<String>),
    Error { reason: String, message: String },
}

/// The kinds of the cases.
#[derive(Clone, Copy, Debug)]
enum Kind {
    ConfigMap,
    Group,
}

impl Kind {
    fn resource(self) -> ApiResource {
        match self {
            Kind::ConfigMap => ApiResource::from_gvk(&GroupVersionKind::gvk("", "v1", "ConfigMap")),
            Kind::Group => ApiResource::from_gvk_with_plural(
                &GroupVersionKind::gvk("shipstream.io", "v1alpha1", "MysqlFailoverGroup"),
                "mysqlfailovergroups",
            ),
        }
    }
    fn kubectl_name(self) -> &'static str {
        match self {
            Kind::ConfigMap => "configmap",
            Kind::Group => "mysqlfailovergroups.shipstream.io",
        }
    }
}

/// One operation of the table.
#[derive(Clone, Debug)]
enum Op {
    Create(Kind, Value),
    Get(Kind, &'static str),
    ListLabelled(Kind, &'static str),
    /// Adds a label (kubectl label).
    Label(Kind, &'static str, &'static str, &'static str),
    /// Adds an annotation (kubectl annotate).
    Annotate(Kind, &'static str, &'static str, &'static str),
    /// Server-side apply with the field manager `conformance`.
    Apply(Kind, Value),
    /// A merge patch of the status subresource.
    PatchStatus(Kind, &'static str, Value),
    /// A merge patch of the object itself.
    PatchObject(Kind, &'static str, Value),
    /// PUT of the object with the resourceVersion it had at the given version of the world
    /// (a stale one conflicts).
    ReplaceAt(Kind, Value),
    Delete(Kind, &'static str),
    /// The reads `kubectl describe` makes: the object and the Events about it.
    Describe(Kind, &'static str),
}

fn cm(name: &str, extra: Value) -> Value {
    let mut v = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": NS}, "data": {"a": "b"}});
    for (k, x) in extra.as_object().unwrap() {
        v[k] = x.clone();
    }
    v
}

fn group(primary_site: &str) -> Value {
    json!({"apiVersion": "shipstream.io/v1alpha1", "kind": "MysqlFailoverGroup",
           "metadata": {"name": "g1", "namespace": NS},
           "spec": {"sites": [{"name": "a"}, {"name": primary_site}], "dns": {"hostname": "db.example"}}})
}

fn cases() -> Vec<(&'static str, Op)> {
    use Kind::*;
    vec![
        ("create", Op::Create(ConfigMap, cm("k1", json!({})))),
        (
            "create an existing name: AlreadyExists",
            Op::Create(ConfigMap, cm("k1", json!({}))),
        ),
        (
            "create with an unknown field: BadRequest (strict decoding)",
            Op::Create(ConfigMap, cm("k2", json!({"bogus": 1}))),
        ),
        ("get", Op::Get(ConfigMap, "k1")),
        ("get a missing object: NotFound", Op::Get(ConfigMap, "nope")),
        ("label", Op::Label(ConfigMap, "k1", "tier", "db")),
        (
            "create a second, unlabelled",
            Op::Create(ConfigMap, cm("k3", json!({}))),
        ),
        (
            "list with a label selector",
            Op::ListLabelled(ConfigMap, "tier=db"),
        ),
        (
            "list with a set-based selector",
            Op::ListLabelled(ConfigMap, "tier notin (db)"),
        ),
        ("apply creates", Op::Apply(Group, group("b"))),
        ("apply updates", Op::Apply(Group, group("c"))),
        (
            "annotate",
            Op::Annotate(Group, "g1", "shipstream.io/note", "hello"),
        ),
        (
            "status subresource patch",
            Op::PatchStatus(Group, "g1", json!({"status": {"activeSite": "a"}})),
        ),
        (
            "a status change through the main resource is ignored",
            Op::PatchObject(Group, "g1", json!({"status": {"activeSite": "zzz"}})),
        ),
        (
            "replace with a stale resourceVersion: Conflict",
            Op::ReplaceAt(ConfigMap, {
                let mut v = cm("k1", json!({}));
                v["metadata"]["resourceVersion"] = json!("1");
                v
            }),
        ),
        ("describe-level reads", Op::Describe(ConfigMap, "k1")),
        (
            "apply with an unknown field: BadRequest (strict decoding)",
            Op::Apply(ConfigMap, cm("k1", json!({"bogus": true}))),
        ),
        ("delete", Op::Delete(ConfigMap, "k1")),
        ("get after delete: NotFound", Op::Get(ConfigMap, "k1")),
        (
            "delete a missing object: NotFound",
            Op::Delete(ConfigMap, "k1"),
        ),
    ]
}

/// A fresh apiserver with the test namespace.
async fn world() -> (ApiServer, Loopback) {
    let api = ApiServer::with_bloodraven_crds(Arc::new(SimClock::new()), Trace::new());
    api.put_raw(
        "namespaces",
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}}),
    )
    .unwrap();
    let lb = api.serve_loopback(NS).await.unwrap();
    (api, lb)
}

/// An object as both sides compare it: through the same typed round trip, without the
/// field-manager bookkeeping that names the client.
fn normalize(v: Value) -> Value {
    let obj: DynamicObject = serde_json::from_value(v).expect("an object");
    let mut v = serde_json::to_value(obj).unwrap();
    if let Some(m) = v["metadata"].as_object_mut() {
        m.remove("managedFields");
    }
    v
}

fn api_error(e: kube::Error) -> Outcome {
    match e {
        kube::Error::Api(s) => Outcome::Error {
            reason: s.reason,
            message: s.message,
        },
        other => panic!("not an API error: {other}"),
    }
}

fn object(r: Result<DynamicObject, kube::Error>) -> Outcome {
    match r {
        Ok(o) => Outcome::Object(normalize(serde_json::to_value(o).unwrap())),
        Err(e) => api_error(e),
    }
}

/// The operation through kube::Client.
async fn via_kube(client: &kube::Client, op: &Op, describe_events: &Api<DynamicObject>) -> Outcome {
    let api = |k: Kind| Api::<DynamicObject>::namespaced_with(client.clone(), NS, &k.resource());
    let name_of = |v: &Value| v["metadata"]["name"].as_str().unwrap().to_string();
    let strict = |p: PatchParams| PatchParams {
        field_validation: Some(ValidationDirective::Strict),
        ..p
    };
    let merge = |k: Kind, name: &str, body: Value, status: bool| {
        let a = api(k);
        let name = name.to_string();
        async move {
            let p = strict(PatchParams::default());
            if status {
                object(a.patch_status(&name, &p, &Patch::Merge(body)).await)
            } else {
                object(a.patch(&name, &p, &Patch::Merge(body)).await)
            }
        }
    };
    match op {
        Op::Create(k, v) => {
            // kubectl asks for strict validation; PostParams cannot, so send the same query.
            let r = k.resource();
            let base = if r.group.is_empty() {
                "/api/v1".to_string()
            } else {
                format!("/apis/{}", r.api_version)
            };
            let url = format!("{base}/namespaces/{NS}/{}?fieldValidation=Strict", r.plural);
            let req = http::Request::post(url)
                .header("content-type", "application/json")
                .body(serde_json::to_vec(v).unwrap())
                .unwrap();
            match client.request::<DynamicObject>(req).await {
                Ok(o) => Outcome::Object(normalize(serde_json::to_value(o).unwrap())),
                Err(e) => api_error(e),
            }
        }
        Op::Get(k, name) => object(api(*k).get(name).await),
        Op::ListLabelled(k, sel) => match api(*k).list(&ListParams::default().labels(sel)).await {
            Ok(l) => Outcome::Names(
                l.items
                    .iter()
                    .map(|o| o.metadata.name.clone().unwrap())
                    .collect(),
            ),
            Err(e) => api_error(e),
        },
        Op::Label(k, name, key, val) => {
            merge(
                *k,
                name,
                json!({"metadata": {"labels": {*key: val}}}),
                false,
            )
            .await
        }
        Op::Annotate(k, name, key, val) => {
            merge(
                *k,
                name,
                json!({"metadata": {"annotations": {*key: val}}}),
                false,
            )
            .await
        }
        Op::Apply(k, v) => object(
            api(*k)
                .patch(
                    &name_of(v),
                    &strict(PatchParams::apply("conformance")),
                    &Patch::Apply(v),
                )
                .await,
        ),
        Op::PatchStatus(k, name, body) => merge(*k, name, body.clone(), true).await,
        Op::PatchObject(k, name, body) => merge(*k, name, body.clone(), false).await,
        Op::ReplaceAt(k, v) => {
            let obj: DynamicObject = serde_json::from_value(v.clone()).unwrap();
            object(
                api(*k)
                    .replace(&name_of(v), &PostParams::default(), &obj)
                    .await,
            )
        }
        Op::Delete(k, name) => match api(*k).delete(name, &DeleteParams::default()).await {
            Ok(_) => Outcome::Names(vec![format!(
                "{}/{name}",
                k.kubectl_name().split('.').next().unwrap()
            )]),
            Err(e) => api_error(e),
        },
        Op::Describe(k, name) => {
            let o = match api(*k).get(name).await {
                Ok(o) => o,
                Err(e) => return api_error(e),
            };
            let uid = o.metadata.uid.clone().unwrap_or_default();
            let events = describe_events
                .list(&ListParams::default().fields(&format!(
                    "involvedObject.uid={uid},involvedObject.name={name},involvedObject.namespace={NS}"
                )))
                .await
                .unwrap();
            let mut lines = vec![format!("Name: {name}"), format!("Namespace: {NS}")];
            for (k, v) in o.metadata.labels.unwrap_or_default() {
                lines.push(format!("Labels: {k}={v}"));
            }
            for e in events.items {
                lines.push(format!(
                    "Event: {} {}",
                    e.data["reason"].as_str().unwrap(),
                    e.data["message"].as_str().unwrap()
                ));
            }
            Outcome::Names(lines)
        }
    }
}

/// The operation through the real kubectl binary.
fn via_kubectl(kubectl: &PathBuf, lb: &Loopback, op: &Op) -> Outcome {
    let file = |v: &Value| {
        let p = lb.dir.join("obj.json");
        std::fs::write(&p, v.to_string()).unwrap();
        p.display().to_string()
    };
    let args: Vec<String> = match op {
        Op::Create(_, v) => vec![
            "create".into(),
            "-o".into(),
            "json".into(),
            "-f".into(),
            file(v),
        ],
        Op::Get(k, name) => vec![
            "get".into(),
            k.kubectl_name().into(),
            name.to_string(),
            "-o".into(),
            "json".into(),
        ],
        Op::ListLabelled(k, sel) => vec![
            "get".into(),
            k.kubectl_name().into(),
            "-l".into(),
            sel.to_string(),
            "-o".into(),
            "name".into(),
        ],
        // `label`/`annotate -o json` print kubectl's local copy (the old resourceVersion), not
        // the server's answer: the outcome is the object read back.
        Op::Label(k, name, key, val) | Op::Annotate(k, name, key, val) => {
            let verb = if matches!(op, Op::Label(..)) {
                "label"
            } else {
                "annotate"
            };
            let set = vec![
                verb.to_string(),
                k.kubectl_name().into(),
                name.to_string(),
                format!("{key}={val}"),
            ];
            if let Some(err) = kubectl_run(kubectl, lb, &set).err() {
                return err;
            }
            vec![
                "get".into(),
                k.kubectl_name().into(),
                name.to_string(),
                "-o".into(),
                "json".into(),
            ]
        }
        Op::Apply(_, v) => vec![
            "apply".into(),
            "--server-side".into(),
            "--field-manager=conformance".into(),
            "-o".into(),
            "json".into(),
            "-f".into(),
            file(v),
        ],
        Op::PatchStatus(k, name, body) => vec![
            "patch".into(),
            k.kubectl_name().into(),
            name.to_string(),
            "--subresource=status".into(),
            "--type=merge".into(),
            "-p".into(),
            body.to_string(),
            "-o".into(),
            "json".into(),
        ],
        Op::PatchObject(k, name, body) => vec![
            "patch".into(),
            k.kubectl_name().into(),
            name.to_string(),
            "--type=merge".into(),
            "-p".into(),
            body.to_string(),
            "-o".into(),
            "json".into(),
        ],
        Op::ReplaceAt(_, v) => vec![
            "replace".into(),
            "-o".into(),
            "json".into(),
            "-f".into(),
            file(v),
        ],
        Op::Delete(k, name) => vec![
            "delete".into(),
            k.kubectl_name().into(),
            name.to_string(),
            "-o".into(),
            "name".into(),
        ],
        Op::Describe(k, name) => vec!["describe".into(), k.kubectl_name().into(), name.to_string()],
    };
    let stdout = match kubectl_run(kubectl, lb, &args) {
        Ok(out) => out,
        Err(e) => return e,
    };
    match op {
        Op::ListLabelled(..) | Op::Delete(..) => Outcome::Names(
            stdout
                .lines()
                .map(|l| l.trim().split_once('/').map_or(l, |(_, n)| n).to_string())
                .map(|n| match op {
                    Op::Delete(k, _) => {
                        format!("{}/{n}", k.kubectl_name().split('.').next().unwrap())
                    }
                    _ => n,
                })
                .collect(),
        ),
        Op::Describe(..) => {
            // The reads kube made, found in what kubectl printed from its own reads.
            Outcome::Names(describe_lines(&stdout))
        }
        _ => Outcome::Object(normalize(
            serde_json::from_str(&stdout)
                .unwrap_or_else(|e| panic!("kubectl {args:?}: {e}: {stdout}")),
        )),
    }
}

/// Runs kubectl: its stdout, or the server error it reported.
fn kubectl_run(kubectl: &PathBuf, lb: &Loopback, args: &[String]) -> Result<String, Outcome> {
    let out = std::process::Command::new(kubectl)
        .arg("--kubeconfig")
        .arg(&lb.kubeconfig)
        .arg("--cache-dir")
        .arg(lb.dir.join("cache"))
        .args(args)
        .output()
        .expect("kubectl runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    if !out.status.success() {
        // `Error from server (Reason): [error when creating "file": ]message`
        let rest = stderr
            .lines()
            .find_map(|l| l.strip_prefix("Error from server ("))
            .unwrap_or_else(|| panic!("kubectl {args:?}: not a server error: {stderr}"));
        let (reason, message) = rest.split_once("): ").expect("reason and message");
        let message = match message.split_once("\": ") {
            Some((head, tail)) if head.starts_with("error when ") => tail,
            _ => message,
        };
        return Err(Outcome::Error {
            reason: reason.to_string(),
            message: message.to_string(),
        });
    }
    Ok(stdout)
}

/// `kubectl describe` text reduced to the lines [`via_kube`] builds from its reads.
fn describe_lines(text: &str) -> Vec<String> {
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{name}:")))
            .map(str::trim)
            .unwrap_or("")
            .to_string()
    };
    let mut lines = vec![
        format!("Name: {}", field("Name")),
        format!("Namespace: {}", field("Namespace")),
    ];
    let mut in_labels = false;
    for l in text.lines() {
        if let Some(v) = l.strip_prefix("Labels:") {
            in_labels = true;
            if v.trim() != "<none>" {
                lines.push(format!("Labels: {}", v.trim()));
            }
        } else if in_labels && l.starts_with(' ') && !l.trim().is_empty() {
            lines.push(format!("Labels: {}", l.trim()));
        } else {
            in_labels = false;
        }
    }
    // Events table rows: Type Reason Age From Message.
    let mut in_events = false;
    for l in text.lines() {
        if l.starts_with("Events:") {
            in_events = true;
            continue;
        }
        let cols: Vec<&str> = l.split_whitespace().collect();
        if in_events && cols.len() >= 4 && cols[0] != "Type" && !cols[0].starts_with('-') {
            let message = l.split_once(cols[3]).map(|(_, m)| m.trim()).unwrap_or("");
            lines.push(format!("Event: {} {message}", cols[1]));
        }
    }
    lines
}

/// An Event about the ConfigMap `name` (as describe finds them: by uid, name, namespace).
fn seed_event(api: &ApiServer, name: &str) {
    let uid = api
        .get("configmaps", NS, name)
        .expect("the described object")["metadata"]["uid"]
        .clone();
    api.put_raw(
        "events",
        json!({"apiVersion": "v1", "kind": "Event", "metadata": {"name": format!("{name}.1"), "namespace": NS},
               "involvedObject": {"kind": "ConfigMap", "name": name, "namespace": NS, "uid": uid},
               "reason": "Checked", "message": "conformance event", "type": "Normal", "count": 1,
               "source": {"component": "conformance"}}),
    )
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apiserver_cases_agree_between_kube_client_and_kubectl() {
    let Some(kubectl) = kubectl_for_test("apiserver_cases_agree_between_kube_client_and_kubectl")
    else {
        return;
    };
    let (kube_api, kube_lb) = world().await;
    let (kctl_api, kctl_lb) = world().await;
    let mut config = kube::Config::new(kube_lb.url().parse().unwrap());
    config.default_namespace = NS.into();
    let client = kube::Client::try_from(config).unwrap();
    let events = Api::<DynamicObject>::namespaced_with(
        client.clone(),
        NS,
        &ApiResource::from_gvk(&GroupVersionKind::gvk("", "v1", "Event")),
    );
    let mut errors = 0;
    for (what, op) in cases() {
        if let Op::Describe(_, name) = &op {
            for api in [&kube_api, &kctl_api] {
                seed_event(api, name);
            }
        }
        let a = via_kube(&client, &op, &events).await;
        let b = tokio::task::block_in_place(|| via_kubectl(&kubectl, &kctl_lb, &op));
        if let Outcome::Error { reason, .. } = &a {
            errors += 1;
            let expected = what.split(": ").nth(1).unwrap_or("<success>");
            assert!(expected.contains(reason.as_str()), "{what}: got {reason}");
        }
        assert_eq!(
            a, b,
            "{what}: kube::Client (left) and kubectl (right) disagree"
        );
    }
    assert!(errors >= 7, "only {errors} error cases");
    // Both servers end in the same state.
    for res in ["configmaps", "mysqlfailovergroups"] {
        let strip = |v: Vec<Value>| -> Vec<Value> { v.into_iter().map(normalize).collect() };
        assert_eq!(
            strip(kube_api.list(res, Some(NS))),
            strip(kctl_api.list(res, Some(NS))),
            "{res}"
        );
    }
}

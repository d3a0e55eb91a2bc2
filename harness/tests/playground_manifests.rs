//! Schema checks of the playground manifests without a cluster:
//! - the real `kubectl` renders the kustomize overlay and server-side applies it with
//!   `--dry-run=server` to the fake apiserver on loopback (every kind known, every object
//!   well-formed, the CRDs registered from the checked-in YAML, nothing stored by the dry run);
//! - the objects the code reads are parsed with the code's own types: the group validates
//!   at playground timings, the sidecar environment the operator renders for it parses,
//!   the controller's env vars are flags it has, and the ClusterRole grants exactly the
//!   calls the controller makes;
//! - the overlay ships none of the objects the operator creates (they would fight over
//!   them), but the Secret its pods read, with every key they need.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use chaos::fake_k8s::{ApiServer, ResourceDef};
use chaos::trace::Trace;
use serde_json::Value;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn kubectl_present() -> bool {
    Command::new("kubectl")
        .args(["version", "--client"])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// `kubectl kustomize <dir>` as one YAML stream.
fn kustomize(dir: &str) -> String {
    let out = Command::new("kubectl")
        .arg("kustomize")
        .arg(repo().join(dir))
        .output()
        .expect("kubectl runs");
    assert!(
        out.status.success(),
        "kubectl kustomize {dir}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn docs(yaml: &str) -> Vec<Value> {
    use serde::Deserialize;
    serde_yaml::Deserializer::from_str(yaml)
        .map(|d| Value::deserialize(d).expect("valid YAML"))
        .filter(|v| !v.is_null())
        .collect()
}

fn find<'a>(all: &'a [Value], kind: &str, name: &str) -> &'a Value {
    all.iter()
        .find(|d| d["kind"] == kind && d["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("{kind}/{name} missing from the overlay"))
}

struct Clock;
impl bloodraven::clock::WallClock for Clock {
    fn now(&self) -> chrono::DateTime<chrono::Utc> {
        chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn playground_manifests_pass_server_dry_run() {
    if !kubectl_present() {
        eprintln!("kubectl not found: skipped");
        return;
    }
    let api = ApiServer::new(Arc::new(Clock), Trace::new());
    // Kinds the playground uses beyond the fake's built-ins.
    for (group, plural, kind, namespaced) in [
        (
            "rbac.authorization.k8s.io",
            "clusterroles",
            "ClusterRole",
            false,
        ),
        (
            "rbac.authorization.k8s.io",
            "clusterrolebindings",
            "ClusterRoleBinding",
            false,
        ),
        ("rbac.authorization.k8s.io", "roles", "Role", true),
        (
            "rbac.authorization.k8s.io",
            "rolebindings",
            "RoleBinding",
            true,
        ),
        (
            "networking.k8s.io",
            "networkpolicies",
            "NetworkPolicy",
            true,
        ),
    ] {
        api.register_resource(ResourceDef::new(
            group, "v1", plural, kind, namespaced, false,
        ));
    }
    let lb = api.serve_loopback("default").await.unwrap();
    let (dir, kubeconfig) = (lb.dir.clone(), lb.kubeconfig.clone());
    let apply = |file: PathBuf, dry: bool| {
        let kubeconfig = kubeconfig.clone();
        let cache = dir.join("cache");
        async move {
            tokio::task::spawn_blocking(move || {
                let mut c = Command::new("kubectl");
                c.arg("--kubeconfig")
                    .arg(&kubeconfig)
                    .arg("--cache-dir")
                    .arg(&cache);
                c.args(["apply", "--server-side", "--field-manager=playground"]);
                if dry {
                    c.arg("--dry-run=server");
                }
                let out = c.arg("-f").arg(&file).output().unwrap();
                let text = format!(
                    "{}{}",
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                );
                assert!(
                    out.status.success(),
                    "kubectl apply {} (dry={dry}) failed:\n{text}",
                    file.display()
                );
                text
            })
            .await
            .unwrap()
        }
    };

    // CRDs and the namespace for real (objects of a kind need the kind; a namespaced object
    // needs its namespace), then everything else as a server-side dry run.
    let all = docs(&kustomize("playground/manifests/playground"));
    let (first, rest): (Vec<&Value>, Vec<&Value>) = all
        .iter()
        .partition(|d| d["kind"] == "CustomResourceDefinition" || d["kind"] == "Namespace");
    let write = |name: &str, objs: &[&Value]| {
        let p = dir.join(name);
        let text: Vec<String> = objs
            .iter()
            .map(|o| serde_yaml::to_string(o).unwrap())
            .collect();
        std::fs::write(&p, text.join("---\n")).unwrap();
        p
    };
    let out = apply(write("first.yaml", &first), true).await;
    assert!(
        out.contains("mysqlfailovergroups.shipstream.io serverside-applied (server dry run)"),
        "{out}"
    );
    assert!(
        api.get(
            "customresourcedefinitions",
            "",
            "mysqlfailovergroups.shipstream.io"
        )
        .is_none(),
        "a dry run stored the CRD"
    );
    apply(write("first.yaml", &first), false).await;
    let out = apply(write("rest.yaml", &rest), true).await;
    for (kind, name) in [
        ("deployment.apps", "bloodraven"),
        ("service", "playground-lb-a"),
        ("clusterrole.rbac.authorization.k8s.io", "bloodraven"),
        ("mysqlfailovergroup.shipstream.io", "demo"),
        ("secret", "mysql-demo-operator"),
    ] {
        assert!(
            out.contains(&format!(
                "{kind}/{name} serverside-applied (server dry run)"
            )),
            "{kind}/{name}:\n{out}"
        );
    }
    assert_eq!(
        rest.len(),
        out.lines()
            .filter(|l| l.ends_with("(server dry run)"))
            .count(),
        "{out}"
    );
    assert!(
        api.get("deployments", "chaos", "bloodraven").is_none(),
        "a dry run stored a Deployment"
    );
    assert!(
        api.get("mysqlfailovergroups", "chaos", "demo").is_none(),
        "a dry run stored the group"
    );
    // The operator base alone renders and names the same CRDs.
    let base = docs(&kustomize("playground/manifests/operator"));
    assert!(base
        .iter()
        .any(|d| d["metadata"]["name"] == "dnsendpoints.externaldns.k8s.io"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn playground_objects_parse_with_the_code_types() {
    if !kubectl_present() {
        eprintln!("kubectl not found: skipped");
        return;
    }
    let all = docs(&kustomize("playground/manifests/playground"));

    let group: bloodraven::crd::MysqlFailoverGroup =
        serde_json::from_value(find(&all, "MysqlFailoverGroup", "demo").clone())
            .expect("the group parses");
    let cfg = group
        .spec
        .validate()
        .expect("the playground group is valid");
    assert_eq!(cfg.failover_cooldown, std::time::Duration::from_secs(30));
    assert_eq!(cfg.max_lag_seconds, 30);
    assert_eq!(cfg.dns_ttl, 10);
    assert_eq!(cfg.site_priorities, ["a", "b"]);

    // Nothing the operator creates ships in the overlay (spec §1 per site and per group).
    use bloodraven::reconcile::names;
    let mut owned = vec![
        names::config_map("demo"),
        names::primary_service("demo"),
        names::replicas_service("demo"),
        names::pdb("demo"),
    ];
    for site in &group.spec.sites {
        let s = site.name.as_str();
        owned.extend([
            names::deployment("demo", s),
            names::pvc("demo", s),
            names::client_service("demo", s),
            names::internal_service("demo", s),
        ]);
    }
    for d in &all {
        let name = d["metadata"]["name"].as_str().unwrap_or_default();
        assert!(
            !owned.iter().any(|o| o == name),
            "{} {name} is the operator's to create",
            d["kind"]
        );
    }

    // The Secret the operator's pods read exists with every key they need.
    let secret_name = bloodraven::crd::operator_secret_name(&group.spec, "demo");
    let secret = find(&all, "Secret", &secret_name);
    for key in bloodraven::reconcile::secret::REQUIRED_KEYS {
        assert!(
            secret["stringData"][key].is_string(),
            "Secret {secret_name} lacks {key}"
        );
    }

    // Each site's lb Service holds the lbIP the DNSEndpoint publishes and selects the
    // operator's pods of that site.
    for site in &group.spec.sites {
        let svc = find(&all, "Service", &format!("playground-lb-{}", site.name));
        assert_eq!(
            svc["spec"]["clusterIP"].as_str(),
            site.lb_ip.as_deref(),
            "site {}",
            site.name
        );
        let selector: BTreeMap<String, String> =
            serde_json::from_value(svc["spec"]["selector"].clone()).unwrap();
        assert_eq!(selector, names::site_selector("demo", &site.name));
    }

    // The sidecar environment the operator renders for this group, as the kubelet would
    // fill it, parses.
    let mut rendered = group.clone();
    rendered.metadata.uid = Some("uid-demo".into());
    let owner = bloodraven::reconcile::meta::Owner {
        group: "demo".into(),
        namespace: "chaos".into(),
        reference: bloodraven::reconcile::owner::owner_reference(&rendered).unwrap(),
    };
    let operator_deployments: Vec<Value> =
        bloodraven::reconcile::resources::desired_deployments(&rendered, &owner)
            .iter()
            .map(|d| serde_json::to_value(d).unwrap())
            .collect();
    let all_and_operator: Vec<Value> = all.iter().chain(&operator_deployments).cloned().collect();
    let env_of = |deploy: &str, container: &str| -> BTreeMap<String, String> {
        let d = find(&all_and_operator, "Deployment", deploy);
        let c = d["spec"]["template"]["spec"]["containers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == container)
            .unwrap_or_else(|| panic!("{deploy} has no container {container}"));
        c["env"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                let v = e["value"]
                    .as_str()
                    .map_or_else(|| "from-ref".to_string(), str::to_string);
                (e["name"].as_str().unwrap().to_string(), v)
            })
            .collect()
    };
    for site in ["a", "b"] {
        let env = env_of(&format!("mysql-demo-{site}"), "sidecar");
        let cfg = bloodraven_sidecar::SidecarConfig::from_lookup(|k| env.get(k).cloned())
            .expect("the sidecar env parses");
        assert_eq!(cfg.site, site);
        assert_eq!(cfg.group, "demo");
        assert_eq!(cfg.peers.len(), 1);
        assert_ne!(
            cfg.peers[0].0,
            format!("mysql-demo-{site}-internal"),
            "a site is not its own peer"
        );
    }

    // Every controller env var is one its CLI reads (controller/src/main.rs).
    let known = [
        "AUX_ADDR",
        "METRICS_ADDR",
        "WATCH_NAMESPACE",
        "MYSQL_OPERATOR_USER",
        "MYSQL_OPERATOR_PASSWORD",
        "MYSQL_REPLICATION_USER",
        "MYSQL_REPLICATION_PASSWORD",
        "RUST_LOG",
    ];
    for name in env_of("bloodraven", "bloodraven").keys() {
        assert!(
            known.contains(&name.as_str()),
            "controller env {name} is not read by bloodraven run"
        );
    }

    // The controller connects (and replicates) as the user the pods' first boot creates:
    // the group Secret's username and password.
    let controller =
        &find(&all, "Deployment", "bloodraven")["spec"]["template"]["spec"]["containers"][0]["env"];
    for (var, key) in [
        ("MYSQL_OPERATOR_USER", "username"),
        ("MYSQL_OPERATOR_PASSWORD", "password"),
        ("MYSQL_REPLICATION_USER", "username"),
        ("MYSQL_REPLICATION_PASSWORD", "password"),
    ] {
        let e = controller
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["name"] == var)
            .unwrap_or_else(|| panic!("controller env {var} missing"));
        assert_eq!(
            e["valueFrom"]["secretKeyRef"],
            serde_json::json!({"name": secret_name, "key": key}),
            "{var}"
        );
    }

    // RBAC: exactly the controller's calls (controller/src/runner.rs, topology/k8s.rs,
    // reconcile/).
    let role = find(&all, "ClusterRole", "bloodraven");
    let mut granted: Vec<String> = vec![];
    for rule in role["rules"].as_array().unwrap() {
        for g in rule["apiGroups"].as_array().unwrap() {
            for r in rule["resources"].as_array().unwrap() {
                for v in rule["verbs"].as_array().unwrap() {
                    granted.push(format!(
                        "{}/{} {}",
                        g.as_str().unwrap(),
                        r.as_str().unwrap(),
                        v.as_str().unwrap()
                    ));
                }
            }
        }
    }
    granted.sort();
    assert_eq!(
        granted,
        [
            "/configmaps patch",
            "/events create",
            "/nodes get",
            "/nodes list",
            "/nodes patch",
            "/persistentvolumeclaims patch",
            "/pods list",
            "/pods patch",
            "/secrets get",
            "/services patch",
            "apps/deployments get",
            "apps/deployments patch",
            "externaldns.k8s.io/dnsendpoints get",
            "externaldns.k8s.io/dnsendpoints patch",
            "policy/poddisruptionbudgets patch",
            "shipstream.io/mysqlfailovergroups get",
            "shipstream.io/mysqlfailovergroups list",
            "shipstream.io/mysqlfailovergroups patch",
            "shipstream.io/mysqlfailovergroups/finalizers update",
            "shipstream.io/mysqlfailovergroups/status patch",
        ]
    );
    let binding = find(&all, "ClusterRoleBinding", "bloodraven");
    assert_eq!(
        binding["subjects"][0]["namespace"], "chaos",
        "the binding follows the overlay's namespace"
    );
}

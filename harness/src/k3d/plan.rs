//! Translates a scenario into the exact commands that inject its faults on the playground
//! cluster (SCENARIOS.md §2, k3d column), with their times. A fault the cluster cannot
//! express refuses the whole scenario, with the reason: a run is never half a scenario.

use std::fmt::Write as _;
use std::time::Duration;

use crate::scenario::{Loaded, TimedFault};

/// The playground's fixed shape (playground/manifests/playground/).
pub const NAMESPACE: &str = "chaos";
pub const GROUP: &str = "demo";
/// Sites in agent-node order: site i runs on `k3d-<cluster>-agent-<i>`.
pub const SITES: &[&str] = &["a", "b"];
/// The playground counter's fixed workload (counter.yaml).
const COUNTER_RATE: u32 = 20;
const COUNTER_TTL: &str = "10s";

/// One argument of a command; a pod name is only known when the step runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Arg {
    Lit(String),
    /// The name of the running MySQL pod of a site (`pod/<name>`).
    PodOf(String),
}

/// One command: argv plus an optional document fed on stdin.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cmd {
    pub argv: Vec<Arg>,
    pub stdin: Option<String>,
}

/// Commands run together at `at` after the start of the run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    pub at: Duration,
    /// What the step does, in scenario terms (`node-down a`, `heal partition a`).
    pub label: String,
    /// The fault op and its target (the site, or `site <-> peer`), as the trace records them.
    pub op: String,
    pub detail: String,
    pub heal: bool,
    pub cmds: Vec<Cmd>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    pub scenario: String,
    pub context: String,
    pub cluster: String,
    pub duration: Duration,
    /// Checks before t=0: the playground is up and the expected site is active.
    pub precheck: Vec<Cmd>,
    /// Fault and heal steps in time order.
    pub steps: Vec<Step>,
    /// Heals every fault still in force at the end (or after an abort).
    pub cleanup: Vec<Cmd>,
}

/// Why the k3d target cannot run a scenario.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("scenario {scenario} cannot run on k3d: {reason}")]
pub struct Unsupported {
    pub scenario: String,
    pub reason: String,
}

struct Builder<'a> {
    context: &'a str,
    cluster: &'a str,
}

fn lit(parts: &[&str]) -> Vec<Arg> {
    parts.iter().map(|p| Arg::Lit(p.to_string())).collect()
}

impl Builder<'_> {
    fn kubectl(&self, args: &[&str]) -> Cmd {
        let mut argv = lit(&["kubectl", "--context", self.context, "-n", NAMESPACE]);
        argv.extend(lit(args));
        Cmd { argv, stdin: None }
    }

    fn docker(&self, verb: &str, site: &str) -> Cmd {
        let node = node_of(self.cluster, site);
        Cmd {
            argv: lit(&["docker", verb, &node]),
            stdin: None,
        }
    }

    /// SQL as root in the site's mysqld container (the password stays in the container).
    fn sql(&self, site: &str, sql: &str) -> Cmd {
        let mut c = self.kubectl(&[
            "exec",
            &format!("deploy/mysql-{GROUP}-{site}"),
            "-c",
            "mysql",
            "--",
            "bash",
            "-c",
        ]);
        c.argv.push(Arg::Lit(
            r#"mysql -uroot -p"$MYSQL_ROOT_PASSWORD" -h127.0.0.1 -N -B -e "$1""#.into(),
        ));
        c.argv.extend(lit(&["_", sql]));
        c
    }

    fn scale(&self, deploy: &str, replicas: u32) -> Cmd {
        self.kubectl(&[
            "scale",
            &format!("deploy/{deploy}"),
            &format!("--replicas={replicas}"),
        ])
    }

    fn force_delete(&self, selector: &str) -> Cmd {
        self.kubectl(&[
            "delete",
            "pod",
            "-l",
            selector,
            "--force",
            "--grace-period=0",
            "--wait=false",
        ])
    }

    fn apply(&self, doc: String) -> Cmd {
        let mut c = self.kubectl(&["apply", "-f", "-"]);
        c.stdin = Some(doc);
        c
    }
}

/// The k3d node container of a site.
pub fn node_of(cluster: &str, site: &str) -> String {
    let i = SITES.iter().position(|s| *s == site).unwrap_or(0);
    format!("k3d-{cluster}-agent-{i}")
}

fn mysql_pods(site: &str) -> String {
    format!("app.kubernetes.io/name=mysql,shipstream.io/site={site}")
}

/// A NetworkPolicy isolating `site`'s MySQL pod: from everything (`peer` None) or only
/// from the pods `peer_selector` names (everything else stays allowed).
fn partition_policy(name: &str, site: &str, peer: Option<(&str, &str)>) -> String {
    let mut doc = format!(
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: {name}\n  namespace: {NAMESPACE}\n  labels: {{chaos.shipstream.io/fault: partition}}\nspec:\n  podSelector:\n    matchLabels: {{app.kubernetes.io/name: mysql, shipstream.io/site: {site}}}\n  policyTypes: [Ingress, Egress]\n"
    );
    if let Some((key, value)) = peer {
        // Allow every pod of the namespace but the peer, and every other namespace (DNS).
        let peers = format!(
            "  - podSelector:\n      matchExpressions: [{{key: {key}, operator: NotIn, values: [{value}]}}]\n  - namespaceSelector:\n      matchExpressions: [{{key: kubernetes.io/metadata.name, operator: NotIn, values: [{NAMESPACE}]}}]\n"
        );
        let _ = write!(
            doc,
            "  ingress:\n  - from:\n{}  egress:\n  - to:\n{}",
            indent(&peers),
            indent(&peers)
        );
    }
    doc
}

fn indent(s: &str) -> String {
    s.lines().map(|l| format!("  {l}\n")).collect()
}

fn secs(d: Duration) -> String {
    format!("{}s", d.as_secs_f64())
}

/// The plan for `loaded` on the cluster behind `context` (`k3d-<cluster>`).
pub fn build(loaded: &Loaded, context: &str) -> Result<Plan, Unsupported> {
    let s = &loaded.scenario;
    let refuse = |reason: String| Unsupported {
        scenario: s.id.clone(),
        reason,
    };
    let cluster = context.strip_prefix("k3d-").unwrap_or(context);
    let b = Builder { context, cluster };

    let names: Vec<&str> = s.topology.sites.iter().map(|x| x.name.as_str()).collect();
    if names != SITES {
        return Err(refuse(format!(
            "its topology has sites {names:?}; the playground has exactly {SITES:?}"
        )));
    }
    if let Some(site) = s
        .topology
        .sites
        .iter()
        .find(|x| x.role != "primary-candidate")
    {
        return Err(refuse(format!(
            "site {} has role {}; every playground site is a primary-candidate",
            site.name, site.role
        )));
    }
    if s.topology.active != "a" {
        return Err(refuse(format!(
            "it starts with {} active; the playground bootstraps a as the primary",
            s.topology.active
        )));
    }
    if s.topology.history.is_some() {
        return Err(refuse(
            "it seeds a failover history an hour old; the playground cannot backdate the group's record".into(),
        ));
    }
    if s.workload.counter_rate != COUNTER_RATE || s.workload.dns_ttl != COUNTER_TTL {
        return Err(refuse(format!(
            "its workload ({} writes/s, TTL {}) differs from the playground counter ({COUNTER_RATE}/s, {COUNTER_TTL})",
            s.workload.counter_rate, s.workload.dns_ttl
        )));
    }

    // Leftovers of an aborted run (its partitions) would skew this one.
    let mut precheck = vec![b.kubectl(&[
        "delete",
        "networkpolicy",
        "-l",
        "chaos.shipstream.io/fault",
        "--ignore-not-found",
    ])];
    for site in SITES {
        precheck.push(b.kubectl(&[
            "rollout",
            "status",
            &format!("deploy/mysql-{GROUP}-{site}"),
            "--timeout=120s",
        ]));
    }
    precheck.push(b.kubectl(&["rollout", "status", "deploy/bloodraven", "--timeout=120s"]));
    precheck.push(b.kubectl(&["rollout", "status", "deploy/counter", "--timeout=120s"]));
    let o = &s.topology.spec;
    let mut spec = serde_json::Map::new();
    let mut sidecar = serde_json::Map::new();
    let put =
        |m: &mut serde_json::Map<String, serde_json::Value>, k: &str, v: serde_json::Value| {
            m.insert(k.to_string(), v);
        };
    if let Some(v) = &o.poll_interval {
        put(&mut spec, "pollInterval", v.clone().into());
    }
    if let Some(v) = o.failure_threshold {
        put(&mut spec, "failureThreshold", v.into());
    }
    if let Some(v) = o.recovery_threshold {
        put(&mut spec, "recoveryThreshold", v.into());
    }
    if let Some(v) = &o.failover_cooldown {
        put(&mut spec, "failoverCooldown", v.clone().into());
    }
    if let Some(v) = &o.lease_timeout {
        put(&mut sidecar, "leaseTimeout", v.clone().into());
    }
    if let Some(v) = &o.peer_check_interval {
        put(&mut sidecar, "peerCheckInterval", v.clone().into());
    }
    if !sidecar.is_empty() {
        spec.insert("sidecar".into(), sidecar.into());
    }
    if !spec.is_empty() {
        let patch = serde_json::json!({ "spec": spec }).to_string();
        precheck.push(b.kubectl(&[
            "patch",
            &format!("mfg/{GROUP}"),
            "--type=merge",
            "-p",
            &patch,
        ]));
    }
    precheck.push(b.kubectl(&[
        "get",
        &format!("mfg/{GROUP}"),
        "-o",
        "jsonpath={.status.activeSite}",
    ]));

    let mut steps = vec![];
    let mut cleanup = vec![];
    for f in &loaded.faults {
        let (inject, heal) = translate(&b, f).map_err(refuse)?;
        let label = fault_label(f);
        let detail = label
            .strip_prefix(&f.op)
            .unwrap_or_default()
            .trim()
            .to_string();
        steps.push(Step {
            at: f.at,
            label: label.clone(),
            op: f.op.clone(),
            detail: detail.clone(),
            heal: false,
            cmds: inject,
        });
        if let Some((heal_at, cmds)) = heal {
            if heal_at < loaded.duration {
                steps.push(Step {
                    at: heal_at,
                    label: format!("heal {label}"),
                    op: f.op.clone(),
                    detail: detail.clone(),
                    heal: true,
                    cmds: cmds.clone(),
                });
            }
            cleanup.extend(cmds);
        }
    }
    steps.sort_by_key(|st| st.at);
    Ok(Plan {
        scenario: s.id.clone(),
        context: context.to_string(),
        cluster: cluster.to_string(),
        duration: loaded.duration,
        precheck,
        steps,
        cleanup,
    })
}

fn fault_label(f: &TimedFault) -> String {
    let mut l = f.op.clone();
    if !f.site.is_empty() {
        l.push(' ');
        l.push_str(&f.site);
    }
    if let Some(p) = &f.peer {
        l.push_str(&format!(" <-> {p}"));
    }
    l
}

type Heal = Option<(Duration, Vec<Cmd>)>;

/// Inject commands and, when the fault heals (or must be undone at cleanup), heal commands.
fn translate(b: &Builder, f: &TimedFault) -> Result<(Vec<Cmd>, Heal), String> {
    let site = f.site.as_str();
    let never = Duration::MAX;
    let fenced_boot = |what: &str| {
        if f.boot_fenced {
            Ok(())
        } else {
            Err(format!(
                "{what} with boot = \"writable\": the playground's mysqld always restarts fenced (super_read_only=ON)"
            ))
        }
    };
    match f.op.as_str() {
        "node-down" => {
            fenced_boot("node-down")?;
            Ok((
                vec![b.docker("stop", site)],
                Some((f.heal_at.unwrap_or(never), vec![b.docker("start", site)])),
            ))
        }
        "site-down" => {
            fenced_boot("site-down")?;
            let deploy = format!("mysql-{GROUP}-{site}");
            Ok((
                vec![b.scale(&deploy, 0)],
                Some((f.heal_at.unwrap_or(never), vec![b.scale(&deploy, 1)])),
            ))
        }
        "crash" => {
            fenced_boot("crash")?;
            Ok((vec![b.force_delete(&mysql_pods(site))], None))
        }
        "partition" | "partition-pair" => {
            let (name, peer) = match f.peer.as_deref() {
                None => (format!("chaos-partition-{site}"), None),
                Some("controller") => (
                    format!("chaos-partition-{site}-controller"),
                    Some(("app.kubernetes.io/name", "bloodraven")),
                ),
                Some("clients") => (
                    format!("chaos-partition-{site}-clients"),
                    Some(("app.kubernetes.io/name", "counter")),
                ),
                Some("apiserver") => {
                    return Err("partition-pair with the apiserver: a MySQL pod never talks to it, and a NetworkPolicy cannot cut the host-network apiserver".into())
                }
                Some(other) => (format!("chaos-partition-{site}-{other}"), Some(("shipstream.io/site", other))),
            };
            let doc = partition_policy(&name, site, peer);
            Ok((
                vec![b.apply(doc)],
                Some((
                    f.heal_at.unwrap_or(never),
                    vec![b.kubectl(&["delete", "networkpolicy", &name, "--ignore-not-found"])],
                )),
            ))
        }
        "sidecar-kill" => {
            // An ephemeral debug container sharing the sidecar's process namespace kills its
            // PID 1; the kubelet restarts the container (its back-off, not `down`, sets when).
            let mut c = b.kubectl(&["debug"]);
            c.argv.push(Arg::PodOf(site.to_string()));
            c.argv.extend(lit(&[
                "--image=busybox:1.36",
                "--target=sidecar",
                "--profile=general",
                "--",
                "kill",
                "1",
            ]));
            Ok((vec![c], None))
        }
        "controller-restart" => {
            let down = f.down.unwrap_or(Duration::from_secs(5));
            Ok((
                vec![b.scale("bloodraven", 0)],
                Some((f.at + down, vec![b.scale("bloodraven", 1)])),
            ))
        }
        "errant-write" => {
            // Real MySQL refuses writes under super_read_only even for root, so the rogue
            // session lifts it for its own statements and puts it back in the same call.
            let rows: Vec<String> = (1..=f.n).map(|i| format!("({i})")).collect();
            let sql = format!(
                "SET @ro=@@global.read_only, @sro=@@global.super_read_only; SET GLOBAL read_only=OFF; CREATE TABLE IF NOT EXISTS chaos.errant (id BIGINT PRIMARY KEY AUTO_INCREMENT, n INT); INSERT INTO chaos.errant (n) VALUES {}; SET GLOBAL read_only=@ro; SET GLOBAL super_read_only=@sro",
                rows.join(", ")
            );
            Ok((vec![b.sql(site, &sql)], None))
        }
        "rogue-unfence" => Ok((vec![b.sql(site, "SET GLOBAL read_only = OFF")], None)),
        "manual-fence" => Ok((vec![b.sql(site, "SET GLOBAL super_read_only = ON")], None)),
        "aux-unready" => {
            // Ingress to the operator pod stays open on the metrics port only: /healthz and
            // /active-site (:8082) stop answering (packets dropped) while polls go on.
            let name = "chaos-aux-unready";
            let doc = format!(
                "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: {name}\n  namespace: {NAMESPACE}\n  labels: {{chaos.shipstream.io/fault: aux-unready}}\nspec:\n  podSelector:\n    matchLabels: {{app.kubernetes.io/name: bloodraven}}\n  policyTypes: [Ingress]\n  ingress:\n  - ports:\n    - {{port: 8080, protocol: TCP}}\n"
            );
            Ok((
                vec![b.apply(doc)],
                Some((
                    f.heal_at.unwrap_or(never),
                    vec![b.kubectl(&["delete", "networkpolicy", name, "--ignore-not-found"])],
                )),
            ))
        }
        "clock-skew" => Err("clock-skew: a container's wall clock cannot be offset on its own (k3d nodes share the host clock)".into()),
        "sql-fail" | "sql-ambiguous" => Err(format!(
            "{}: failing or half-applying chosen statements needs the fake mysqld's statement hooks",
            f.op
        )),
        other => Err(format!("fault op {other:?} has no k3d translation")),
    }
}

/// Shell rendering of an argument (single-quoted when needed).
pub fn shell_word(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,@+%".contains(c));
    if plain {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

impl Plan {
    fn render_cmd(&self, c: &Cmd) -> String {
        let words: Vec<String> = c
            .argv
            .iter()
            .map(|a| match a {
                Arg::Lit(s) => shell_word(s),
                Arg::PodOf(site) => format!(
                    "\"$(kubectl --context {} -n {NAMESPACE} get pod -l {} -o name | head -n1)\"",
                    self.context,
                    mysql_pods(site)
                ),
            })
            .collect();
        let mut line = words.join(" ");
        if let Some(doc) = &c.stdin {
            line.push_str(" <<'EOF'\n");
            line.push_str(doc);
            line.push_str("EOF");
        }
        line
    }

    /// The exact command plan, as a shell-readable script (what `--dry-run` prints).
    pub fn render(&self, judged: &[String], not_judged: &[(String, String)]) -> String {
        let mut o = String::new();
        let _ = writeln!(o, "# k3d plan for scenario {} on context {} (cluster {}, namespace {NAMESPACE}, group {GROUP})", self.scenario, self.context, self.cluster);
        let _ = writeln!(
            o,
            "# nodes: {}",
            SITES
                .iter()
                .map(|s| format!("{s} = {}", node_of(&self.cluster, s)))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let _ = writeln!(o, "# run length {}; every 1s the runner samples each site's read_only and general log (kubectl exec),", secs(self.duration));
        let _ = writeln!(o, "# status.activeSite, the DNSEndpoint and the counter's acks; at the end the operator's and sidecars' logs.");
        let _ = writeln!(o, "# judged: {}", judged.join(", "));
        for (p, why) in not_judged {
            let _ = writeln!(o, "# not judged on k3d: {p} ({why})");
        }
        let _ = writeln!(o, "\n## precheck");
        for c in &self.precheck {
            let _ = writeln!(o, "{}", self.render_cmd(c));
        }
        for st in &self.steps {
            let _ = writeln!(o, "\n## t={} {}", secs(st.at), st.label);
            for c in &st.cmds {
                let _ = writeln!(o, "{}", self.render_cmd(c));
            }
        }
        let _ = writeln!(
            o,
            "\n## t={} end; cleanup (idempotent heals)",
            secs(self.duration)
        );
        for c in &self.cleanup {
            let _ = writeln!(o, "{}", self.render_cmd(c));
        }
        o
    }
}

//! The per-site Deployment `mysql-<group>-<site>` (spec §1): one replica, a `mysql`
//! container and the `sidecar` container after the `boot-fence` init container, pinned to
//! the site's nodes, tolerating the group's own read-only taint (the taint is for the
//! workloads, not for the database).
//!
//! Boot fence (spec §11.1: a returning old primary committed transactions before anyone
//! fenced it): the init container writes an option file that mysqld reads last
//! (`--defaults-extra-file`), with `super_read_only=ON` whenever the data directory is
//! already initialised. Every start of an existing instance in the pod, a container
//! restart included (the file is on an emptyDir), comes up fenced; only the controller
//! (or the sidecar's safety net, when the controller names the site) unfences it. An
//! empty data directory gets an empty file: the image's first initialisation needs writes,
//! and the controller fences the fresh instance (fresh-deploy bootstrap, auto-clone).

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec, DeploymentStrategy};
use k8s_openapi::api::core::v1::{
    Affinity, ConfigMapVolumeSource, Container, ContainerPort, EnvVar, EnvVarSource, KeyToPath,
    NodeAffinity, NodeSelector, NodeSelectorRequirement, NodeSelectorTerm, ObjectFieldSelector,
    PersistentVolumeClaimVolumeSource, PodSpec, PodTemplateSpec, ResourceRequirements,
    SecretKeySelector, Toleration, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};

use crate::crd::{MysqlFailoverGroupSpec, ResourcesSpec, SiteSpec};
use crate::topology::k8s::taint_key;

use super::config_map::{ENV_INIT_PASSWORD, ENV_INIT_USER, INIT_USER_KEY, MY_CNF_KEY};
use super::meta::Owner;
use super::names;

/// Secret keys the pods read (the operator Secret, spec §2.1 `credentials.operatorSecret`).
pub const KEY_USERNAME: &str = "username";
pub const KEY_PASSWORD: &str = "password";
pub const KEY_ROOT_PASSWORD: &str = "MYSQL_ROOT_PASSWORD";

fn env(name: &str, value: impl Into<String>) -> EnvVar {
    EnvVar {
        name: name.into(),
        value: Some(value.into()),
        ..Default::default()
    }
}

fn env_field(name: &str, path: &str) -> EnvVar {
    EnvVar {
        name: name.into(),
        value_from: Some(EnvVarSource {
            field_ref: Some(ObjectFieldSelector {
                field_path: path.into(),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn env_secret(name: &str, secret: &str, key: &str) -> EnvVar {
    EnvVar {
        name: name.into(),
        value_from: Some(EnvVarSource {
            secret_key_ref: Some(SecretKeySelector {
                name: secret.into(),
                key: key.into(),
                optional: None,
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn quantities(m: &BTreeMap<String, String>) -> Option<BTreeMap<String, Quantity>> {
    (!m.is_empty()).then(|| {
        m.iter()
            .map(|(k, v)| (k.clone(), Quantity(v.clone())))
            .collect()
    })
}

fn resources(r: &Option<ResourcesSpec>) -> Option<ResourceRequirements> {
    r.as_ref().map(|r| ResourceRequirements {
        requests: quantities(&r.requests),
        limits: quantities(&r.limits),
        ..Default::default()
    })
}

/// The environment `bloodraven-sidecar` reads (sidecar/src/config.rs `from_env` and the
/// credentials of its main).
fn sidecar_env(
    spec: &MysqlFailoverGroupSpec,
    group: &str,
    site: &str,
    secret: &str,
) -> Vec<EnvVar> {
    let peers: Vec<String> = spec
        .sites
        .iter()
        .filter(|s| s.name != site)
        .map(|s| format!("{}:8080", names::internal_service(group, &s.name)))
        .collect();
    let mut out = vec![
        env("MY_SITE", site),
        env_field("POD_NAMESPACE", "metadata.namespace"),
        env_field("MY_POD_NAME", "metadata.name"),
        env("FAILOVER_GROUP", group),
        env("PEER_ADDRESSES", peers.join(",")),
        env("LEASE_TIMEOUT", spec.sidecar.lease_timeout.clone()),
        env(
            "PEER_CHECK_INTERVAL",
            spec.sidecar.peer_check_interval.clone(),
        ),
        env("MYSQL_HOST", "127.0.0.1"),
        env("MYSQL_PORT", "3306"),
        env("LISTEN_ADDR", "0.0.0.0:8080"),
        env_secret("MYSQL_USER", secret, KEY_USERNAME),
        env_secret("MYSQL_PASSWORD", secret, KEY_PASSWORD),
    ];
    if let Some(addr) = &spec.sidecar.bloodraven_address {
        out.push(env("BLOODRAVEN_ADDRESS", addr.clone()));
    }
    out
}

/// Pins the pod to the nodes of the site's `taintNodeSelector`.
fn site_affinity(site: &SiteSpec) -> Option<Affinity> {
    if site.taint_node_selector.is_empty() {
        return None;
    }
    let expressions = site
        .taint_node_selector
        .iter()
        .map(|(k, v)| NodeSelectorRequirement {
            key: k.clone(),
            operator: "In".into(),
            values: Some(vec![v.clone()]),
        })
        .collect();
    Some(Affinity {
        node_affinity: Some(NodeAffinity {
            required_during_scheduling_ignored_during_execution: Some(NodeSelector {
                node_selector_terms: vec![NodeSelectorTerm {
                    match_expressions: Some(expressions),
                    ..Default::default()
                }],
            }),
            ..Default::default()
        }),
        ..Default::default()
    })
}

/// One key of the group ConfigMap as a volume (mysqld reads every `*.cnf` of conf.d; the
/// image's entrypoint runs every script of its init directory).
fn config_volume(name: &str, group: &str, key: &str) -> Volume {
    Volume {
        name: name.into(),
        config_map: Some(ConfigMapVolumeSource {
            name: names::config_map(group),
            items: Some(vec![KeyToPath {
                key: key.into(),
                path: key.into(),
                ..Default::default()
            }]),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Where the init container writes the boot-fence option file, and the file.
pub const BOOT_FENCE_DIR: &str = "/etc/mysql/boot-fence";
pub const BOOT_FENCE_FILE: &str = "/etc/mysql/boot-fence/boot-fence.cnf";

/// The init container's script: fence when the data directory holds an instance.
pub const BOOT_FENCE_SCRIPT: &str = r#"set -eu
f=/etc/mysql/boot-fence/boot-fence.cnf
if [ -d /var/lib/mysql/mysql ]; then
  printf '[mysqld]\nsuper_read_only=ON\nread_only=ON\n' > "$f"
  echo "bloodraven: existing data directory; mysqld boots with super_read_only=ON"
else
  printf '# bloodraven: empty data directory, first initialisation; the controller fences it\n' > "$f"
  echo "bloodraven: empty data directory; no boot fence for the first initialisation"
fi
"#;

fn boot_fence_init(image: &str) -> Container {
    Container {
        name: "boot-fence".into(),
        image: Some(image.to_string()),
        command: Some(vec!["sh".into(), "-c".into(), BOOT_FENCE_SCRIPT.into()]),
        volume_mounts: Some(vec![
            VolumeMount {
                name: "data".into(),
                mount_path: "/var/lib/mysql".into(),
                read_only: Some(true),
                ..Default::default()
            },
            VolumeMount {
                name: "boot-fence".into(),
                mount_path: BOOT_FENCE_DIR.into(),
                ..Default::default()
            },
        ]),
        ..Default::default()
    }
}

/// The pod template of a site; its hash is the drift signal of the ordered update.
pub fn pod_template(
    spec: &MysqlFailoverGroupSpec,
    group: &str,
    server_id: usize,
    site: &SiteSpec,
    secret: &str,
) -> PodTemplateSpec {
    let mysql = Container {
        name: "mysql".into(),
        image: Some(spec.image.clone()),
        // The boot-fence file first (mysqld takes --defaults-extra-file only there); the
        // server id unique per site: replication drops events carrying its own.
        args: Some(vec![
            format!("--defaults-extra-file={BOOT_FENCE_FILE}"),
            format!("--server-id={server_id}"),
        ]),
        ports: Some(vec![ContainerPort {
            name: Some("mysql".into()),
            container_port: 3306,
            ..Default::default()
        }]),
        env: Some(vec![
            env_secret("MYSQL_ROOT_PASSWORD", secret, KEY_ROOT_PASSWORD),
            // Read by the first-boot script that creates the operator's user.
            env_secret(ENV_INIT_USER, secret, KEY_USERNAME),
            env_secret(ENV_INIT_PASSWORD, secret, KEY_PASSWORD),
        ]),
        resources: resources(&site.resources),
        volume_mounts: Some(vec![
            VolumeMount {
                name: "data".into(),
                mount_path: "/var/lib/mysql".into(),
                ..Default::default()
            },
            VolumeMount {
                name: "config".into(),
                mount_path: "/etc/mysql/conf.d".into(),
                read_only: Some(true),
                ..Default::default()
            },
            VolumeMount {
                name: "init".into(),
                mount_path: "/docker-entrypoint-initdb.d".into(),
                read_only: Some(true),
                ..Default::default()
            },
            VolumeMount {
                name: "boot-fence".into(),
                mount_path: BOOT_FENCE_DIR.into(),
                read_only: Some(true),
                ..Default::default()
            },
        ]),
        ..Default::default()
    };
    let sidecar = Container {
        name: "sidecar".into(),
        image: Some(spec.sidecar_image.clone()),
        ports: Some(vec![ContainerPort {
            name: Some("sidecar".into()),
            container_port: 8080,
            ..Default::default()
        }]),
        env: Some(sidecar_env(spec, group, &site.name, secret)),
        ..Default::default()
    };
    PodTemplateSpec {
        metadata: Some(ObjectMeta {
            labels: Some(names::site_labels(group, &site.name)),
            ..Default::default()
        }),
        spec: Some(PodSpec {
            init_containers: Some(vec![boot_fence_init(&spec.image)]),
            containers: vec![mysql, sidecar],
            affinity: site_affinity(site),
            tolerations: Some(vec![Toleration {
                key: Some(taint_key(group)),
                operator: Some("Exists".into()),
                effect: Some("NoExecute".into()),
                ..Default::default()
            }]),
            termination_grace_period_seconds: Some(spec.termination_grace_period_seconds),
            volumes: Some(vec![
                Volume {
                    name: "data".into(),
                    persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
                        claim_name: names::pvc(group, &site.name),
                        read_only: None,
                    }),
                    ..Default::default()
                },
                config_volume("config", group, MY_CNF_KEY),
                config_volume("init", group, INIT_USER_KEY),
                // Lives as long as the pod: a mysqld container restart reads it again.
                Volume {
                    name: "boot-fence".into(),
                    empty_dir: Some(Default::default()),
                    ..Default::default()
                },
            ]),
            ..Default::default()
        }),
    }
}

/// FNV-1a over the template's JSON: stable across processes and platforms.
pub fn template_hash(t: &PodTemplateSpec) -> String {
    let text = serde_json::to_string(t).expect("a pod template serializes");
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

/// The Deployment of `site` running `template`.
pub fn deployment(owner: &Owner, site: &str, template: PodTemplateSpec) -> Deployment {
    let g = &owner.group;
    let mut metadata = owner.meta(names::deployment(g, site), names::site_labels(g, site));
    metadata.annotations = Some(BTreeMap::from([(
        names::ANNOTATION_SPEC_HASH.to_string(),
        template_hash(&template),
    )]));
    Deployment {
        metadata,
        spec: DeploymentSpec {
            replicas: Some(1),
            selector: LabelSelector {
                match_labels: Some(names::site_selector(g, site)),
                ..Default::default()
            },
            // One RWO volume per site: the old pod must stop before the new one mounts it.
            strategy: Some(DeploymentStrategy {
                type_: Some("Recreate".into()),
                ..Default::default()
            }),
            template,
            ..Default::default()
        },
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn template() -> PodTemplateSpec {
        let spec: MysqlFailoverGroupSpec = serde_yaml::from_str(
            "sites: [{name: a}, {name: b}]\ndns: {hostname: db.example.com}\nimage: mysql:9.7\n",
        )
        .unwrap();
        pod_template(&spec, "g", 2, &spec.sites[1], "mysql-g-operator")
    }

    #[test]
    fn the_boot_fence_init_container_writes_the_file_mysqld_reads_last() {
        let t = template();
        let pod = t.spec.unwrap();
        let inits = pod.init_containers.unwrap();
        assert_eq!(inits.len(), 1);
        let init = &inits[0];
        assert_eq!(init.name, "boot-fence");
        assert_eq!(
            init.image.as_deref(),
            Some("mysql:9.7"),
            "the mysql image has a shell"
        );
        let mounts = init.volume_mounts.as_ref().unwrap();
        let mount = |name: &str| mounts.iter().find(|m| m.name == name).unwrap();
        assert_eq!(mount("data").mount_path, "/var/lib/mysql");
        assert_eq!(mount("data").read_only, Some(true));
        assert_eq!(mount("boot-fence").mount_path, BOOT_FENCE_DIR);
        let mysql = pod.containers.iter().find(|c| c.name == "mysql").unwrap();
        let args = mysql.args.as_ref().unwrap();
        assert_eq!(
            args[0],
            format!("--defaults-extra-file={BOOT_FENCE_FILE}"),
            "mysqld accepts --defaults-extra-file only as its first option"
        );
        assert_eq!(args[1], "--server-id=2");
        assert!(mysql
            .volume_mounts
            .as_ref()
            .unwrap()
            .iter()
            .any(|m| m.name == "boot-fence" && m.mount_path == BOOT_FENCE_DIR));
        let volume = pod
            .volumes
            .unwrap()
            .into_iter()
            .find(|v| v.name == "boot-fence")
            .unwrap();
        assert!(volume.empty_dir.is_some(), "outlives a container restart");
    }

    /// Runs the script against a temporary data directory and returns the file it wrote.
    fn run_script(initialised: bool) -> String {
        let dir = std::env::temp_dir().join(format!(
            "bloodraven-boot-fence-{}-{initialised}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        let (data, fence) = (dir.join("data"), dir.join("fence"));
        std::fs::create_dir_all(&data).unwrap();
        std::fs::create_dir_all(&fence).unwrap();
        if initialised {
            std::fs::create_dir_all(data.join("mysql")).unwrap();
        }
        let script = BOOT_FENCE_SCRIPT
            .replace("/var/lib/mysql", data.to_str().unwrap())
            .replace(BOOT_FENCE_DIR, fence.to_str().unwrap());
        let out = std::process::Command::new("sh")
            .args(["-c", &script])
            .output()
            .expect("sh runs");
        assert!(out.status.success(), "{out:?}");
        let text = std::fs::read_to_string(fence.join("boot-fence.cnf")).unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        text
    }

    #[test]
    fn an_existing_data_directory_boots_fenced_an_empty_one_does_not() {
        assert_eq!(
            run_script(true),
            "[mysqld]\nsuper_read_only=ON\nread_only=ON\n"
        );
        let empty = run_script(false);
        assert!(!empty.contains("read_only"), "{empty}");
        assert!(
            empty.starts_with('#'),
            "an option file of comments only: {empty}"
        );
    }

    #[test]
    fn the_boot_fence_is_part_of_the_template_hash() {
        let with = template();
        let mut without = with.clone();
        without.spec.as_mut().unwrap().init_containers = None;
        assert_ne!(template_hash(&with), template_hash(&without));
    }
}

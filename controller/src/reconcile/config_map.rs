//! The group ConfigMap `mysql-<group>-config` holding my.cnf (spec §1 my.cnf): overridable
//! durability defaults, then `spec.mysqlConf`, then the settings replication and failover
//! depend on, which no override can change. It also holds the first-boot script that
//! creates the operator Secret's MySQL user: the mysql image creates only root, and the
//! operator, the sidecars and replication all connect as that user.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ConfigMap;

use super::meta::Owner;
use super::names;

const DEFAULTS: &[(&str, &str)] = &[
    ("sync_binlog", "1"),
    ("innodb_flush_log_at_trx_commit", "2"),
    ("binlog_expire_logs_seconds", "1209600"),
];

const ENFORCED: &[(&str, &str)] = &[
    ("gtid_mode", "ON"),
    ("enforce_gtid_consistency", "ON"),
    ("log_replica_updates", "ON"),
    ("log_bin", "mysql-bin"),
    ("skip_replica_start", "ON"),
    ("plugin_load_add", "mysql_clone.so"),
];

/// The `[mysqld]` section, keys sorted so the text is stable.
pub fn my_cnf(overrides: &BTreeMap<String, String>) -> String {
    let mut conf: BTreeMap<String, String> = DEFAULTS
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    conf.extend(overrides.iter().map(|(k, v)| (k.clone(), v.clone())));
    conf.extend(ENFORCED.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let mut out = String::from("[mysqld]\n");
    for (k, v) in conf {
        out.push_str(&format!("{k}={v}\n"));
    }
    out
}

/// ConfigMap key of my.cnf (mounted into `/etc/mysql/conf.d`).
pub const MY_CNF_KEY: &str = "my.cnf";
/// ConfigMap key of the first-boot script (mounted into `/docker-entrypoint-initdb.d`).
pub const INIT_USER_KEY: &str = "init-operator-user.sh";
/// The mysql container's environment the script reads (the Secret's username/password).
pub const ENV_INIT_USER: &str = "BLOODRAVEN_MYSQL_USER";
pub const ENV_INIT_PASSWORD: &str = "BLOODRAVEN_MYSQL_PASSWORD";

/// Sourced by the mysql image's entrypoint on an empty data directory only. With the
/// binlog off, so every site starts with an empty gtid_executed and none holds a
/// transaction another lacks. Holds no secret: the credentials come from the environment.
pub const INIT_OPERATOR_USER: &str = r#"# Bloodraven: create the operator Secret's MySQL user (operator, sidecar, replication).
if [ -z "${BLOODRAVEN_MYSQL_USER:-}" ]; then
  echo "bloodraven: BLOODRAVEN_MYSQL_USER is empty (the operator Secret's 'username' key)" >&2
  exit 1
fi
bloodraven_sql_string() {
  local s=$1
  s=${s//\\/\\\\}
  s=${s//"'"/"''"}
  printf "'%s'" "$s"
}
bloodraven_user=$(bloodraven_sql_string "$BLOODRAVEN_MYSQL_USER")
bloodraven_password=$(bloodraven_sql_string "${BLOODRAVEN_MYSQL_PASSWORD:-}")
docker_process_sql --database=mysql <<EOSQL
SET SQL_LOG_BIN=0;
CREATE USER IF NOT EXISTS ${bloodraven_user}@'%' IDENTIFIED BY ${bloodraven_password};
GRANT ALL ON *.* TO ${bloodraven_user}@'%' WITH GRANT OPTION;
EOSQL
unset bloodraven_user bloodraven_password
"#;

pub fn config_map(owner: &Owner, overrides: &BTreeMap<String, String>) -> ConfigMap {
    let g = &owner.group;
    ConfigMap {
        metadata: owner.meta(names::config_map(g), names::group_labels(g)),
        data: Some(BTreeMap::from([
            (MY_CNF_KEY.to_string(), my_cnf(overrides)),
            (INIT_USER_KEY.to_string(), INIT_OPERATOR_USER.to_string()),
        ])),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_apply_but_enforced_settings_win() {
        let o = BTreeMap::from([
            ("sync_binlog".to_string(), "0".to_string()),
            ("gtid_mode".to_string(), "OFF".to_string()),
        ]);
        let cnf = my_cnf(&o);
        assert!(cnf.starts_with("[mysqld]\n"));
        assert!(cnf.contains("sync_binlog=0\n"));
        assert!(cnf.contains("gtid_mode=ON\n"));
        assert!(!cnf.contains("gtid_mode=OFF"));
        assert!(cnf.contains("skip_replica_start=ON\n"));
    }

    /// Runs the first-boot script under bash with the image's SQL helper stubbed by `cat`.
    fn run_init(user: &str, password: &str) -> std::process::Output {
        std::process::Command::new("bash")
            .arg("-c")
            .arg(format!(
                "docker_process_sql() {{ echo \"args: $*\"; cat; }}\n{INIT_OPERATOR_USER}"
            ))
            .env(ENV_INIT_USER, user)
            .env(ENV_INIT_PASSWORD, password)
            .output()
            .expect("bash runs")
    }

    #[test]
    fn first_boot_script_creates_the_secret_user_unlogged_and_quoted() {
        let out = run_init("bloodraven", r"it's\x");
        assert!(out.status.success(), "{out:?}");
        let sql = String::from_utf8(out.stdout).unwrap();
        assert_eq!(
            sql,
            "args: --database=mysql\n\
             SET SQL_LOG_BIN=0;\n\
             CREATE USER IF NOT EXISTS 'bloodraven'@'%' IDENTIFIED BY 'it''s\\\\x';\n\
             GRANT ALL ON *.* TO 'bloodraven'@'%' WITH GRANT OPTION;\n"
        );
    }

    #[test]
    fn first_boot_script_fails_without_a_user() {
        let out = run_init("", "pw");
        assert!(!out.status.success());
        assert!(String::from_utf8_lossy(&out.stderr).contains("'username' key"));
    }
}

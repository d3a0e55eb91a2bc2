//! The group ConfigMap `mysql-<group>-config` holding my.cnf (spec §1 my.cnf): overridable
//! durability defaults, then `spec.mysqlConf`, then the settings replication and failover
//! depend on, which no override can change.

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

pub fn config_map(owner: &Owner, overrides: &BTreeMap<String, String>) -> ConfigMap {
    let g = &owner.group;
    ConfigMap {
        metadata: owner.meta(names::config_map(g), names::group_labels(g)),
        data: Some(BTreeMap::from([("my.cnf".to_string(), my_cnf(overrides))])),
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
}

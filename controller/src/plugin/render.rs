//! What `status` prints: aligned tables (table, wide) and the objects as JSON or YAML.
//! Pure functions of the objects, so the output is snapshot-tested.

use crate::backup::crd::{MysqlBackup, MysqlBackupVerification};
use crate::crd::{MysqlFailoverGroup, SiteStatus};

/// Left-aligned columns separated by three spaces, like kubectl.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            widths[i] = widths[i].max(c.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        let n = cells.len();
        let mut s = String::new();
        for (i, c) in cells.into_iter().enumerate() {
            if i + 1 == n {
                s.push_str(&c);
            } else {
                s.push_str(&format!("{c:<w$}   ", w = widths[i]));
            }
        }
        s.trim_end().to_string() + "\n"
    };
    let mut out = line(header.iter().map(|h| h.to_string()).collect());
    for r in rows {
        out.push_str(&line(r.clone()));
    }
    out
}

fn or_dash(s: &str) -> String {
    if s.is_empty() {
        "-".into()
    } else {
        s.to_string()
    }
}

fn ready(g: &MysqlFailoverGroup) -> (String, String) {
    g.status
        .as_ref()
        .and_then(|s| s.conditions.iter().find(|c| c.type_ == "Ready"))
        .map(|c| (c.status.clone(), c.message.clone()))
        .unwrap_or_else(|| ("Unknown".into(), String::new()))
}

fn planned(g: &MysqlFailoverGroup) -> String {
    match g.status.as_ref().and_then(|s| s.planned_failover.as_ref()) {
        Some(p) => {
            let mut s = format!("{:?} -> {}", p.phase, p.target_site);
            if let Some(r) = &p.reason {
                s.push_str(&format!(" ({r})"));
            }
            s
        }
        None => "-".into(),
    }
}

fn recovery(sites: &[SiteStatus]) -> String {
    let v: Vec<String> = sites
        .iter()
        .filter(|s| !s.recovery_state.is_empty())
        .map(|s| match s.divergent_transaction_count {
            Some(n) => format!("{}:{}({n})", s.name, s.recovery_state),
            None => format!("{}:{}", s.name, s.recovery_state),
        })
        .collect();
    if v.is_empty() {
        "-".into()
    } else {
        v.join(",")
    }
}

/// One line per group.
pub fn groups(groups: &[MysqlFailoverGroup], wide: bool, namespaces: bool) -> String {
    let mut header = vec![];
    if namespaces {
        header.push("NAMESPACE");
    }
    header.extend(["NAME", "ACTIVE", "READY", "SITES", "LAST FAILOVER"]);
    if wide {
        header.extend(["PLANNED FAILOVER", "RECOVERY"]);
    }
    let rows: Vec<Vec<String>> = groups
        .iter()
        .map(|g| {
            let st = g.status.clone().unwrap_or_default();
            let mut r = vec![];
            if namespaces {
                r.push(g.metadata.namespace.clone().unwrap_or_default());
            }
            r.push(g.metadata.name.clone().unwrap_or_default());
            r.push(or_dash(&st.active_site));
            r.push(ready(g).0);
            r.push(g.spec.sites.len().to_string());
            r.push(match (&st.last_failover, &st.last_failover_target) {
                (Some(at), Some(t)) => format!("{at} -> {t}"),
                _ => "-".into(),
            });
            if wide {
                r.push(planned(g));
                r.push(recovery(&st.sites));
            }
            r
        })
        .collect();
    table(&header, &rows)
}

/// The detailed report of one group: summary lines, then one row per site.
pub fn group(g: &MysqlFailoverGroup, wide: bool) -> String {
    let st = g.status.clone().unwrap_or_default();
    let (ready, msg) = ready(g);
    let mut out = String::new();
    out.push_str(&format!(
        "Group:            {} (namespace {})\n",
        g.metadata.name.clone().unwrap_or_default(),
        g.metadata.namespace.clone().unwrap_or_default()
    ));
    out.push_str(&format!("Active site:      {}\n", or_dash(&st.active_site)));
    out.push_str(&format!(
        "Ready:            {ready}{}\n",
        if msg.is_empty() {
            String::new()
        } else {
            format!(" ({msg})")
        }
    ));
    out.push_str(&format!(
        "Last failover:    {}\n",
        match (&st.last_failover, &st.last_failover_target) {
            (Some(at), Some(t)) => format!("{at} -> {t}"),
            _ => "-".into(),
        }
    ));
    out.push_str(&format!("Planned failover: {}\n", planned(g)));
    if let Some(m) = st.planned_failover.as_ref().and_then(|p| p.message.clone()) {
        out.push_str(&format!("                  {m}\n"));
    }
    out.push('\n');
    let mut header = vec![
        "SITE",
        "ROLE",
        "STATE",
        "REPLICATING",
        "LAG",
        "SOURCE",
        "RECOVERY",
    ];
    if wide {
        header.extend(["GTID EXECUTED", "DIVERGENT GTID"]);
    }
    let rows: Vec<Vec<String>> = g
        .spec
        .sites
        .iter()
        .map(|spec| {
            let s = st
                .sites
                .iter()
                .find(|s| s.name == spec.name)
                .cloned()
                .unwrap_or_default();
            let mut r = vec![
                spec.name.clone(),
                spec.role.as_str().to_string(),
                or_dash(&s.state),
                if s.replicating { "yes" } else { "no" }.to_string(),
                s.seconds_behind_source
                    .map(|l| format!("{l}s"))
                    .unwrap_or_else(|| "-".into()),
                or_dash(&s.source_host),
                match s.divergent_transaction_count {
                    Some(n) => format!("{} ({n})", s.recovery_state),
                    None => or_dash(&s.recovery_state),
                },
            ];
            if wide {
                r.push(or_dash(&s.gtid_executed));
                r.push(or_dash(&s.divergent_gtid));
            }
            r
        })
        .collect();
    out.push_str(&table(&header, &rows));
    out
}

fn opt(s: &Option<String>) -> String {
    or_dash(s.as_deref().unwrap_or_default())
}

/// One line per MysqlBackup.
pub fn backups(items: &[MysqlBackup], wide: bool) -> String {
    let mut header = vec!["NAME", "GROUP", "PROFILE", "PHASE", "SOURCE", "COMPLETED"];
    if wide {
        header.extend(["SIZE", "GTID EXECUTED", "LOCATION", "REASON", "MESSAGE"]);
    }
    let rows: Vec<Vec<String>> = items
        .iter()
        .map(|b| {
            let st = b.status.clone().unwrap_or_default();
            let mut r = vec![
                opt(&b.metadata.name),
                b.spec.failover_group_ref.clone(),
                b.spec.profile_name.clone(),
                format!("{:?}", st.phase),
                opt(&st.source_site),
                opt(&st.completion_time),
            ];
            if wide {
                r.push(
                    st.size_bytes
                        .map(|n| n.to_string())
                        .unwrap_or_else(|| "-".into()),
                );
                r.push(opt(&st.gtid_executed));
                r.push(opt(&st.location));
                r.push(opt(&st.reason));
                r.push(opt(&st.message));
            }
            r
        })
        .collect();
    table(&header, &rows)
}

/// One line per MysqlBackupVerification.
pub fn verifications(items: &[MysqlBackupVerification], wide: bool) -> String {
    let mut header = vec![
        "NAME",
        "GROUP",
        "PROFILE",
        "BACKUP",
        "PHASE",
        "ROWS",
        "COMPLETED",
    ];
    if wide {
        header.extend(["RESTORED GTID", "REASON", "MESSAGE"]);
    }
    let rows: Vec<Vec<String>> = items
        .iter()
        .map(|m| {
            let st = m.status.clone().unwrap_or_default();
            let mut r = vec![
                opt(&m.metadata.name),
                m.spec.failover_group_ref.clone(),
                m.spec.profile_name.clone(),
                opt(&st.backup_name.clone().or(m.spec.backup_name.clone())),
                format!("{:?}", st.phase),
                st.restored_rows
                    .map(|n| n.to_string())
                    .unwrap_or_else(|| "-".into()),
                opt(&st.completion_time),
            ];
            if wide {
                r.push(opt(&st.restored_gtid_executed));
                r.push(opt(&st.reason));
                r.push(opt(&st.message));
            }
            r
        })
        .collect();
    table(&header, &rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_aligns_and_trims() {
        let t = table(
            &["A", "LONG HEADER", "C"],
            &[vec!["xyz".into(), "1".into(), "".into()]],
        );
        assert_eq!(t, "A     LONG HEADER   C\nxyz   1\n");
    }
}

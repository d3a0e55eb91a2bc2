//! Backup properties (spec §2.4).
//! - BKP-SRC: every backup was read from the right site: never a reader, a site that was
//!   up, holding nothing the writable primary lacks (not a stale or divergent old
//!   primary), and the primary only when no replica was a fit source when the Job started.
//!   At least one backup must have been taken.
//! - BKP-V: every restored backup holds each acknowledged write whose GTID its claimed
//!   GTID set contains (a backup that claims a transaction must carry its row). At least
//!   one restore must have happened.

use std::collections::BTreeMap;

use bloodraven::gtid::GtidSet;

use super::{Input, Verdict};
use crate::trace::{BackupRestored, BackupTaken, EventKind};

pub fn backup_source(input: &Input) -> Verdict {
    let mut taken = 0;
    let mut wrong = vec![];
    for e in input.events {
        let EventKind::BackupTaken(b) = &e.kind else {
            continue;
        };
        let BackupTaken {
            job,
            source,
            source_role,
            source_read_only,
            writable,
            eligible_at_start,
            gtid,
            ..
        } = &**b;
        taken += 1;
        if source_role == "read-only" {
            wrong.push(format!("{job}: read from reader {source}"));
        }
        if !*source_read_only && !eligible_at_start.is_empty() {
            wrong.push(format!(
                "{job}: read from the primary {source} while replicas {eligible_at_start:?} were fit sources"
            ));
        }
        if let [primary] = writable.as_slice() {
            if primary != source {
                let primary_gtid = input
                    .events
                    .iter()
                    .take_while(|x| x.at_ms <= e.at_ms)
                    .filter_map(|x| match &x.kind {
                        EventKind::Commit { site, gtid, .. } if site == primary => {
                            Some(gtid.to_string())
                        }
                        _ => None,
                    })
                    .fold(GtidSet::new(), |mut acc, g| {
                        if let Ok(g) = GtidSet::parse(&g) {
                            acc.union_with(&g);
                        }
                        acc
                    });
                let src = GtidSet::parse(gtid).unwrap_or_default();
                let extra = src.subtract(&primary_gtid);
                if !extra.is_empty() {
                    wrong.push(format!(
                        "{job}: {source} holds {extra} that the primary {primary} never committed"
                    ));
                }
            }
        }
    }
    let pass = taken > 0 && wrong.is_empty();
    Verdict::new(
        "BKP-SRC",
        pass,
        format!("{} of {taken} backups from a wrong source", wrong.len()),
        if taken == 0 {
            "no backup was taken".to_string()
        } else if wrong.is_empty() {
            "every backup came from a fit replica (or the primary when none was)".to_string()
        } else {
            wrong.join("; ")
        },
    )
}

pub fn backup_verified(input: &Input) -> Verdict {
    let acked: BTreeMap<u64, GtidSet> = input
        .events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::Ack { id, gtid, .. } => Some((*id, GtidSet::parse(gtid).ok()?)),
            _ => None,
        })
        .collect();
    let mut restores = 0;
    let mut problems = vec![];
    let mut checked = 0usize;
    for e in input.events {
        let EventKind::BackupRestored(b) = &e.kind else {
            continue;
        };
        let BackupRestored {
            job, gtid, rows, ..
        } = &**b;
        restores += 1;
        let claimed = GtidSet::parse(gtid).unwrap_or_default();
        let missing: Vec<u64> = acked
            .iter()
            .filter(|(_, g)| claimed.is_superset_of(g))
            .inspect(|_| checked += 1)
            .filter(|(id, _)| rows.binary_search(id).is_err())
            .map(|(id, _)| *id)
            .collect();
        if !missing.is_empty() {
            problems.push(format!(
                "{job}: {} acknowledged writes inside the backup's GTID set are missing (ids {:?}{})",
                missing.len(),
                &missing[..missing.len().min(10)],
                if missing.len() > 10 { ", ..." } else { "" }
            ));
        }
    }
    let pass = restores > 0 && problems.is_empty();
    Verdict::new(
        "BKP-V",
        pass,
        format!("{restores} restores, {checked} acked writes checked"),
        if restores == 0 {
            "no backup was restored".to_string()
        } else if problems.is_empty() {
            "every acknowledged write a backup claims is in it".to_string()
        } else {
            problems.join("; ")
        },
    )
}

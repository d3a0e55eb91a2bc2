//! The Events of backups and verifications land on the MysqlBackup and the
//! MysqlBackupVerification they are about (involvedObject), where `kubectl describe`
//! shows them, and not on the group. The real topology manager polls its backup reconcile
//! against the fake apiserver; the test plays the Job controller by finishing the Jobs.

mod controller_support;

use bloodraven::backup::RESULT;
use controller_support::{simulate, uuid, Ctx, Setup, GROUP, NS};
use serde_json::{json, Value};

fn request(ctx: &Ctx, resource: &str, kind: &str, name: &str, spec: Value) {
    ctx.api
        .put_raw(
            resource,
            json!({"apiVersion": "shipstream.io/v1alpha1", "kind": kind,
                   "metadata": {"name": name, "namespace": NS}, "spec": spec}),
        )
        .expect("request");
}

/// Ends a Job the way a real one ends: its result annotation, then `status.succeeded`.
fn finish_job(ctx: &Ctx, job: &str, result: Value) {
    ctx.api
        .modify("jobs", NS, job, |j| {
            j["metadata"]["annotations"][RESULT] = json!(result.to_string());
            j["status"] = json!({"succeeded": 1});
        })
        .unwrap_or_else(|| panic!("Job {job} was not created"));
}

fn phase(ctx: &Ctx, resource: &str, name: &str) -> String {
    ctx.api.get(resource, NS, name).expect("request")["status"]["phase"]
        .as_str()
        .unwrap_or("")
        .to_string()
}

/// (involvedObject kind, name, uid, type) of every Event with `reason`.
fn events(ctx: &Ctx, reason: &str) -> Vec<(String, String, String, String)> {
    ctx.api
        .list("events", Some(NS))
        .into_iter()
        .filter(|e| e["reason"] == reason)
        .map(|e| {
            let o = &e["involvedObject"];
            let s = |v: &Value| v.as_str().unwrap_or("").to_string();
            (s(&o["kind"]), s(&o["name"]), s(&o["uid"]), s(&e["type"]))
        })
        .collect()
}

fn uid(ctx: &Ctx, resource: &str, name: &str) -> String {
    ctx.api.get(resource, NS, name).expect("object")["metadata"]["uid"]
        .as_str()
        .expect("uid")
        .to_string()
}

#[test]
fn backup_and_verification_events_are_recorded_on_the_requests() {
    simulate(Setup::two_sites(), |ctx| async move {
        ctx.api.modify("mysqlfailovergroups", NS, GROUP, |g| {
            g["spec"]["backup"] = json!({"profiles": [{"name": "nightly", "bucket": "b"}]});
        });
        let spec = json!({"failoverGroupRef": GROUP, "profileName": "nightly"});
        request(
            &ctx,
            "mysqlbackups",
            "MysqlBackup",
            "nightly-1",
            spec.clone(),
        );
        let mut typo = spec.clone();
        typo["profileName"] = json!("nighty");
        request(&ctx, "mysqlbackups", "MysqlBackup", "typo-1", typo);
        // Its Job name would be 64 characters: it can never run.
        let long = "l".repeat(64 - "-backup-1".len());
        request(&ctx, "mysqlbackups", "MysqlBackup", &long, spec.clone());
        let mut verify = spec.clone();
        verify["backupName"] = json!("nightly-1");
        request(
            &ctx,
            "mysqlbackupverifications",
            "MysqlBackupVerification",
            "check-1",
            verify,
        );
        let mut m = ctx.manager().await;
        ctx.wait_replicated("a").await;
        for _ in 0..10 {
            ctx.poll(&mut m).await;
            if phase(&ctx, "mysqlbackups", "nightly-1") == "Running" {
                break;
            }
        }
        assert_eq!(phase(&ctx, "mysqlbackups", "nightly-1"), "Running");
        assert_eq!(phase(&ctx, "mysqlbackups", "typo-1"), "Failed");
        assert_eq!(phase(&ctx, "mysqlbackups", &long), "Failed");
        let st = &ctx.api.get("mysqlbackups", NS, &long).unwrap()["status"];
        assert_eq!(st["reason"], "InvalidName", "{st}");
        assert!(ctx
            .api
            .get("jobs", NS, &format!("{long}-backup-1"))
            .is_none());
        // The verification waits for its backup to end.
        assert_eq!(phase(&ctx, "mysqlbackupverifications", "check-1"), "");

        let gtid = format!("{}:1-3", uuid(0));
        finish_job(
            &ctx,
            "nightly-1-backup-1",
            json!({"gtidExecuted": gtid, "sizeBytes": 4096}),
        );
        ctx.polls(&mut m, 2).await;
        assert_eq!(phase(&ctx, "mysqlbackups", "nightly-1"), "Succeeded");
        assert_eq!(
            phase(&ctx, "mysqlbackupverifications", "check-1"),
            "Running"
        );
        // The restore lacks the backup's last transaction.
        finish_job(
            &ctx,
            "check-1-verify",
            json!({"gtidExecuted": format!("{}:1-2", uuid(0)), "rows": 2}),
        );
        ctx.poll(&mut m).await;
        assert_eq!(phase(&ctx, "mysqlbackupverifications", "check-1"), "Failed");

        let on = |resource: &str, kind: &str, name: &str, type_: &str| {
            (
                kind.to_string(),
                name.to_string(),
                uid(&ctx, resource, name),
                type_.to_string(),
            )
        };
        assert_eq!(
            events(&ctx, "BackupSucceeded"),
            [on("mysqlbackups", "MysqlBackup", "nightly-1", "Normal")]
        );
        assert_eq!(
            events(&ctx, "BackupFailed"),
            [
                on("mysqlbackups", "MysqlBackup", &long, "Warning"),
                on("mysqlbackups", "MysqlBackup", "typo-1", "Warning")
            ]
        );
        assert_eq!(
            events(&ctx, "BackupVerificationFailed"),
            [on(
                "mysqlbackupverifications",
                "MysqlBackupVerification",
                "check-1",
                "Warning"
            )]
        );
        // None of them is on the group; the group's own Events still are.
        for e in ctx.api.list("events", Some(NS)) {
            let reason = e["reason"].as_str().unwrap_or("");
            let kind = e["involvedObject"]["kind"].as_str().unwrap_or("");
            assert_eq!(
                reason.starts_with("Backup"),
                kind != "MysqlFailoverGroup",
                "{e}"
            );
            assert_eq!(e["involvedObject"]["apiVersion"], "shipstream.io/v1alpha1");
            assert_eq!(e["involvedObject"]["namespace"], NS);
        }
    });
}

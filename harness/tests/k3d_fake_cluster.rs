//! The k3d target's execute path end to end, against a scripted stand-in for the cluster:
//! `kubectl` and `docker` shell scripts that answer like the playground would during a
//! node-down of site a (b promoted about 2s later, or never). The real runner injects the
//! fault, samples, reads the general log and the counter's acks, and judges; the exit code
//! and the report say whether the oracles saw the failover.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

const SCENARIO: &str = r#"
id = "k3d-fake-kill"
description = "node-down on a against a scripted cluster"
duration = "10s"

[topology]
sites = [{ name = "a" }, { name = "b" }]
active = "a"
priorities = ["a", "b"]

[[faults]]
at = "2s"
op = "node-down"
site = "a"

[expect]
properties = ["NOFO-PRE", "SW", "FAILOVER", "RPO-A", "FLAP"]
new_primary = "b"
failover_within = "6s"
failovers = 1
"#;

/// The fake cluster. State lives in $FAKE_STATE: `a_down` (while a's node is stopped),
/// `stopped_at` (when it was first stopped), `acked_<site>` (the counter's acked ids per
/// site). b is promoted 2s after a's node stopped, unless $FAKE_NO_FAILOVER.
const KUBECTL: &str = r#"#!/usr/bin/env bash
set -u
S=$FAKE_STATE
args="$*"
last="${*: -1}"
now_ms() { date +%s%3N; }
promoted() {
  [ -z "${FAKE_NO_FAILOVER:-}" ] || return 1
  [ -f "$S/stopped_at" ] || return 1
  [ $(( $(now_ms) - $(cat "$S/stopped_at") )) -ge 2000 ]
}
active() { if promoted; then echo b; else echo a; fi; }
case "$args" in
  *"get --raw /readyz"*) echo ok ;;
  *"rollout status"*) echo "successfully rolled out" ;;
  *"jsonpath={.status.activeSite}"*) printf '%s' "$(active)" ;;
  *"get mfg/demo -o json"*) printf '{"status":{"activeSite":"%s","sites":[]}}' "$(active)" ;;
  *"get dnsendpoint/"*) if [ "$(active)" = b ]; then printf 10.43.100.2; else printf 10.43.100.1; fi ;;
  *"proxy/log?after="*)
    after=${args##*after=}; after=${after%% *}
    id=$((after + 1)); site=$(active)
    [ "$site" = a ] && [ -f "$S/a_down" ] && { printf '{"entries":[{"id":%d,"at_unix_ms":%d,"site":"a","ok":false,"error":"connect timed out"}],"next":%d}' "$id" "$(now_ms)" "$id"; exit 0; }
    echo "$id" >> "$S/acked_$site"
    printf '{"entries":[{"id":%d,"at_unix_ms":%d,"site":"%s","ok":true,"gtid":"uuid-%s:%d"}],"next":%d}' "$id" "$(now_ms)" "$site" "$site" "$id" "$id" ;;
  *"logs deploy/bloodraven"*)
    if promoted; then
      t=$(( $(cat "$S/stopped_at") + 2000 ))
      printf '{"timestamp":"%s.%03dZ","level":"INFO","fields":{"message":"failover complete","site":"b"}}\n' \
        "$(date -u -d "@$((t / 1000))" +%Y-%m-%dT%H:%M:%S)" $((t % 1000))
    fi ;;
  *"logs deploy/mysql-demo-"*) ;;
  *"exec deploy/mysql-demo-a"*)
    [ -f "$S/a_down" ] && { echo "error: unable to upgrade connection" >&2; exit 1; }
    case "$last" in
      *"SELECT 'S'"*) printf 'S\t0\t0\n' ;;
      *"@@server_uuid"*) printf '0\t0\tuuid-a\tuuid-a:1-9\t\tOFF\tOFF\n' ;;
      *"chaos.counter"*) cat "$S/acked_a" 2>/dev/null ;;
    esac ;;
  *"exec deploy/mysql-demo-b"*)
    case "$last" in
      *"SELECT 'S'"*)
        if promoted; then
          printf 'S\t0\t0\n'
          case "$last" in *FROM_UNIXTIME*)
            t=$(( $(cat "$S/stopped_at") + 2000 ))
            printf 'L\t2026-01-12 14:02:19.000001\t%d.0000\tbloodraven[bloodraven] @  [10.42.0.7]\tSET GLOBAL read_only = OFF\n' "$t" ;;
          esac
        else
          printf 'S\t1\t1\n'
        fi ;;
      *"@@server_uuid"*) if promoted; then printf '0\t0\tuuid-b\tuuid-a:1-9\t\tOFF\tOFF\n'; else printf '1\t1\tuuid-b\tuuid-a:1-9\tmysql-demo-a-internal\tON\tON\n'; fi ;;
      *"chaos.counter"*) cat "$S/acked_a" "$S/acked_b" 2>/dev/null ;;
    esac ;;
  *" apply "*|*" delete "*|*" scale "*) cat >/dev/null 2>&1 || true ;;
  *) echo "fake kubectl: unexpected: $args" >&2; exit 1 ;;
esac
"#;

const DOCKER: &str = r#"#!/usr/bin/env bash
case "$1 $2" in
  "stop k3d-fake-agent-0") date +%s%3N > "$FAKE_STATE/a_down"; cp "$FAKE_STATE/a_down" "$FAKE_STATE/stopped_at" ;;
  "start k3d-fake-agent-0") rm -f "$FAKE_STATE/a_down" ;;
  *) echo "fake docker: unexpected: $*" >&2; exit 1 ;;
esac
"#;

fn script(dir: &Path, name: &str, text: &str) {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
}

fn setup(name: &str) -> (PathBuf, PathBuf, PathBuf) {
    let root = std::env::temp_dir().join(format!("chaos-k3d-fake-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let bin = root.join("bin");
    let state = root.join("state");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::create_dir_all(&state).unwrap();
    script(&bin, "kubectl", KUBECTL);
    script(&bin, "docker", DOCKER);
    script(&bin, "k3d", "#!/bin/sh\nexit 0\n");
    let scenario = root.join("k3d-fake-kill.toml");
    std::fs::write(&scenario, SCENARIO).unwrap();
    (root, bin, state)
}

fn run(name: &str, no_failover: bool) -> (Option<i32>, String, serde_json::Value) {
    let (root, bin, state) = setup(name);
    let path = format!("{}:/usr/bin:/bin", bin.display());
    let report_dir = root.join("report");
    let mut c = Command::new(env!("CARGO_BIN_EXE_chaos"));
    c.args([
        "run",
        root.join("k3d-fake-kill.toml").to_str().unwrap(),
        "--target",
        "k3d",
    ])
    .args([
        "--context",
        "k3d-fake",
        "--report-dir",
        report_dir.to_str().unwrap(),
    ])
    .env("PATH", path)
    .env("FAKE_STATE", &state);
    if no_failover {
        c.env("FAKE_NO_FAILOVER", "1");
    }
    let out = c.output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let report = std::fs::read_to_string(report_dir.join("report.json"))
        .map(|r| serde_json::from_str(&r).unwrap())
        .unwrap_or(serde_json::Value::Null);
    assert!(
        !state.join("a_down").exists(),
        "cleanup restarted the node\n{text}"
    );
    let _ = std::fs::remove_dir_all(&root);
    (out.status.code(), text, report)
}

fn verdict<'a>(report: &'a serde_json::Value, p: &str) -> &'a serde_json::Value {
    report["verdicts"]
        .as_array()
        .and_then(|v| v.iter().find(|v| v["property"] == p))
        .unwrap_or_else(|| panic!("no verdict for {p}: {report}"))
}

#[test]
fn k3d_execute_judges_an_observed_failover() {
    let (code, text, report) = run("pass", false);
    assert_eq!(code, Some(0), "{text}");
    assert_eq!(report["target"], "k3d");
    for p in ["NOFO-PRE", "SW", "FAILOVER", "RPO-A", "FLAP"] {
        assert_eq!(verdict(&report, p)["pass"], true, "{p}: {text}");
    }
    assert!(report["acked_writes"].as_u64().unwrap() >= 3, "{text}");
    let events = report["events"].as_array().unwrap();
    assert!(
        events
            .iter()
            .any(|e| e["type"] == "mutation" && e["site"] == "b" && e["user"] == "bloodraven"),
        "{text}"
    );
    assert!(
        events.iter().any(|e| e["type"] == "log"
            && e["host"] == "bloodraven"
            && e["msg"] == "failover complete"),
        "{text}"
    );
    assert!(
        events
            .iter()
            .any(|e| e["type"] == "fault" && e["op"] == "node-down" && e["detail"] == "a"),
        "{text}"
    );
}

#[test]
fn k3d_execute_reports_a_missing_failover() {
    let (code, text, report) = run("fail", true);
    assert_eq!(code, Some(1), "{text}");
    assert_eq!(verdict(&report, "FAILOVER")["pass"], false, "{text}");
}

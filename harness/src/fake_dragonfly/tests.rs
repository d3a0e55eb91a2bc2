//! The fake Dragonfly over the simulated network, driven by the controller's own client.

use std::sync::Arc;
use std::time::Duration;

use bloodraven::dragonfly::client::{DfConn, DfError};
use bloodraven::dragonfly::info::Role as InfoRole;
use bloodraven::dragonfly::resp::Reply;
use bloodraven::net::SharedDialer;

use super::{run_host, Node, Role, PORT};
use crate::simnet::SimDialer;
use crate::trace::Trace;

const T: Duration = Duration::from_secs(2);

fn world(names: &[&str]) -> (turmoil::Sim<'static>, Vec<Node>) {
    let mut sim = turmoil::Builder::new()
        .rng_seed(3)
        .tick_duration(Duration::from_millis(10))
        .simulation_duration(Duration::from_secs(120))
        .build();
    let trace = Trace::new();
    let mut nodes = vec![];
    for n in names {
        let node = Node::new(n, n, trace.clone());
        let h = node.clone();
        sim.host(*n, move || {
            let (h, dialer): (Node, SharedDialer) = (h.clone(), Arc::new(SimDialer));
            async move { Ok(run_host(h, dialer).await?) }
        });
        nodes.push(node);
    }
    (sim, nodes)
}

async fn conn(host: &str) -> DfConn {
    DfConn::open(&SimDialer, host, PORT, T).await.unwrap()
}

#[test]
fn replication_takeover_and_errors() {
    let (mut sim, nodes) = world(&["df-a", "df-b"]);
    let (a, b) = (nodes[0].clone(), nodes[1].clone());
    sim.client("test", async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let mut ca = conn("df-a").await;
        let mut cb = conn("df-b").await;
        // Both boot as empty masters.
        let i = cb.info_replication(T).await.unwrap();
        assert!(i.pristine_master());
        ca.call(&["SET", "session:1", "alice"], T).await.unwrap();
        cb.replicaof("df-a", PORT, T).await.unwrap();
        tokio::time::sleep(Duration::from_millis(500)).await;
        let i = cb.info_replication(T).await.unwrap();
        assert_eq!(
            (i.role, i.offset, i.replica_ready()),
            (InfoRole::Replica, 1, true),
            "{i:?}"
        );
        assert_eq!(ca.info_replication(T).await.unwrap().connected_slaves, 1);
        // A replica refuses writes, with Redis's words.
        let e = cb.call(&["SET", "k", "v"], T).await.unwrap_err();
        assert!(
            matches!(&e, DfError::Refused(_, _, m) if m.starts_with("READONLY")),
            "{e}"
        );
        // Unknown commands and bad arity are refused, not ignored.
        let e = ca.call(&["FLUSHALL"], T).await.unwrap_err();
        assert!(e.to_string().contains("unknown command"), "{e}");
        let e = ca.call(&["GET"], T).await.unwrap_err();
        assert!(e.to_string().contains("wrong number of arguments"), "{e}");
        // A takeover keeps the sessions and turns the old master into a replica.
        ca.call(&["SET", "session:2", "bob"], T).await.unwrap();
        cb.repltakeover(5, T * 4).await.unwrap();
        assert_eq!(b.role(), Role::Master);
        assert_eq!(b.get("session:2").as_deref(), Some("bob"));
        assert!(matches!(a.role(), Role::Replica { ref host, .. } if host == "df-b"));
        // A master cannot take over.
        let e = cb.repltakeover(5, T).await.unwrap_err();
        assert!(e.to_string().contains("on a master"), "{e}");
        // CLIENT KILL TYPE NORMAL closes other application connections, not the caller's.
        let mut victim = conn("df-b").await;
        victim.call(&["PING"], T).await.unwrap();
        cb.kill_normal_clients(T).await.unwrap();
        cb.call(&["PING"], T).await.unwrap();
        assert!(victim.call(&["PING"], T).await.is_err());
        Ok(())
    });
    sim.run().unwrap();
}

#[test]
fn takeover_needs_a_live_master_and_a_restart_loses_everything() {
    let (mut sim, nodes) = world(&["df-a", "df-b"]);
    let b = nodes[1].clone();
    sim.client("test", async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let mut ca = conn("df-a").await;
        let mut cb = conn("df-b").await;
        ca.call(&["SET", "k", "v"], T).await.unwrap();
        cb.replicaof("df-a", PORT, T).await.unwrap();
        tokio::time::sleep(Duration::from_millis(500)).await;
        turmoil::partition("df-a", "df-b");
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let i = cb.info_replication(T).await.unwrap();
        assert!(!i.link_up && !i.replica_ready(), "{i:?}");
        let e = cb.repltakeover(1, T * 4).await.unwrap_err();
        assert!(e.to_string().contains("stable sync"), "{e}");
        // REPLICAOF NO ONE promotes with the data it has.
        cb.replicaof_no_one(T).await.unwrap();
        assert_eq!(b.get("k").as_deref(), Some("v"));
        turmoil::repair("df-a", "df-b");
        Ok(())
    });
    sim.run().unwrap();
    // A boot is an empty master of a new history.
    nodes[0].boot();
    assert!(nodes[0].keys().is_empty());
    assert_eq!(nodes[0].role(), Role::Master);
}

#[test]
fn requirepass_refuses_until_auth_and_guards_the_replication_link() {
    let (mut sim, nodes) = world(&["df-a", "df-b", "df-c"]);
    nodes[0].require_pass("pw");
    nodes[1].require_pass("pw");
    let (b, c) = (nodes[1].clone(), nodes[2].clone());
    sim.client("test", async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let mut ca = conn("df-a").await;
        let e = ca.call(&["PING"], T).await.unwrap_err();
        assert!(
            matches!(&e, DfError::Refused(_, _, m) if m == "NOAUTH Authentication required."),
            "{e}"
        );
        let e = ca.auth("wrong", T).await.unwrap_err();
        assert!(
            matches!(&e, DfError::Refused(_, _, m) if m == "WRONGPASS invalid username-password pair or user is disabled."),
            "{e}"
        );
        assert!(!e.to_string().contains("wrong"), "the password is never echoed: {e}");
        ca.auth("pw", T).await.unwrap();
        ca.call(&["SET", "k", "v"], T).await.unwrap();
        // A node without requirepass refuses AUTH, as Redis does.
        let mut cc = conn("df-c").await;
        let e = cc.auth("pw", T).await.unwrap_err();
        assert!(e.to_string().contains("without any password configured"), "{e}");
        // b authenticates its link with its own password (masterauth) and syncs; c has
        // none and is refused by a's requirepass, so its link never comes up.
        let mut cb = conn("df-b").await;
        cb.auth("pw", T).await.unwrap();
        cb.replicaof("df-a", PORT, T).await.unwrap();
        cc.replicaof("df-a", PORT, T).await.unwrap();
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(b.get("k").as_deref(), Some("v"));
        assert_eq!(c.get("k"), None);
        assert!(!cc.info_replication(T).await.unwrap().link_up);
        Ok(())
    });
    sim.run().unwrap();
}

#[test]
fn save_writes_the_dataset_to_the_bucket_and_a_boot_loads_it() {
    let (mut sim, nodes) = world(&["df-a", "df-b"]);
    let store = super::SnapshotStore::default();
    nodes[0].snapshot_to(&store, "s3://chaos-df/demo/a");
    let (a, b) = (nodes[0].clone(), nodes[1].clone());
    let bucket = store.clone();
    sim.client("test", async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let mut ca = conn("df-a").await;
        ca.call(&["SET", "session:1", "alice"], T).await.unwrap();
        let persistence = |r: Reply| r.text().unwrap_or_default();
        let before = persistence(ca.call(&["INFO", "persistence"], T).await.unwrap());
        assert!(before.contains("rdb_changes_since_last_save:1"), "{before}");
        ca.call(&["SAVE"], T).await.unwrap();
        let after = persistence(ca.call(&["INFO", "persistence"], T).await.unwrap());
        assert!(after.contains("rdb_changes_since_last_save:0"), "{after}");
        ca.call(&["SET", "session:2", "bob"], T).await.unwrap();
        let r = ca.call(&["BGSAVE"], T).await.unwrap();
        assert_eq!(r, Reply::Simple("Background saving started".into()));
        ca.call(&["SET", "session:3", "carol"], T).await.unwrap();
        // b has no snapshot dir: its SAVE lands on its own disk, not in the bucket.
        let mut cb = conn("df-b").await;
        cb.call(&["SAVE"], T).await.unwrap();
        assert_eq!(bucket.locations(), ["s3://chaos-df/demo/a"]);
        let e = ca.call(&["SAVE", "now"], T).await.unwrap_err();
        assert!(e.to_string().contains("wrong number of arguments"), "{e}");
        Ok(())
    });
    sim.run().unwrap();
    // A restart loads the last dump (the write after it is lost), as a history of its
    // own that replicas full-sync; a node without a dump boots empty.
    a.boot();
    assert_eq!(a.keys(), ["session:1", "session:2"]);
    assert_eq!(a.offset(), 2);
    b.boot();
    assert!(b.keys().is_empty());
}

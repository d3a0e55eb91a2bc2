//! Property: for any sequence of source writes, replication steps, relay applies, crashes
//! and errant writes, a replica only ever executes what its source committed plus its own
//! errant transactions (replication never invents or corrupts a GTID).
//!
//! The IO thread is driven by hand through the same engine calls the real receiver makes
//! (`io_wanted`, `dump_check`, `binlog_since`, `relay_push`, `io_error`), without a network,
//! so thousands of sequences run in a second.

use bloodraven::gtid::GtidSet;
use futures::executor::block_on;
use proptest::prelude::*;

use super::Engine;
use crate::trace::Trace;

const SRC_UUID: &str = "aaaaaaaa-0000-4000-8000-00000000000a";
const REP_UUID: &str = "bbbbbbbb-0000-4000-8000-00000000000b";

#[derive(Clone, Debug)]
enum Op {
    /// The workload commits `n` rows on the source.
    Write(u8),
    /// The IO thread fetches up to `n` transactions the replica lacks.
    Receive(u8),
    /// The SQL thread applies up to `n` relay transactions.
    Apply(u8),
    /// The replica crashes and reboots (fenced or not), then replication is restarted.
    CrashReplica(bool),
    /// The source crashes and reboots writable.
    CrashSource,
    /// `n` local transactions on the replica.
    Errant(u8),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (1u8..5).prop_map(Op::Write),
        3 => (1u8..8).prop_map(Op::Receive),
        3 => (1u8..8).prop_map(Op::Apply),
        1 => any::<bool>().prop_map(Op::CrashReplica),
        1 => Just(Op::CrashSource),
        1 => (1u8..3).prop_map(Op::Errant),
    ]
}

fn start_replica(rep: &Engine) {
    let change = "CHANGE REPLICATION SOURCE TO SOURCE_HOST='src', SOURCE_PORT=3306, \
                  SOURCE_USER='repl', SOURCE_PASSWORD='repl', SOURCE_AUTO_POSITION=1";
    block_on(rep.query("root", "STOP REPLICA")).unwrap();
    block_on(rep.query("root", change)).unwrap();
    block_on(rep.query("root", "START REPLICA")).unwrap();
}

/// One receive step of the IO thread, as `replication::receive` does it over the wire.
fn receive(src: &Engine, rep: &Engine, max: usize) {
    let Some((gen, _)) = rep.io_wanted(rep.epoch()) else {
        return;
    };
    match src.dump_check(&rep.have_set().to_string()) {
        Ok(have) => {
            rep.io_connected(gen, &src.server_uuid());
            let Some((txns, _)) = src.binlog_since(src.epoch(), 0) else {
                return;
            };
            for txn in txns
                .into_iter()
                .filter(|t| !have.contains(&t.uuid, t.gno))
                .take(max)
            {
                rep.relay_push(gen, txn);
            }
        }
        Err(e) => rep.io_error(gen, e.code, e.message, true),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn replica_executes_only_source_commits_and_its_own_errant_writes(
        ops in prop::collection::vec(op(), 1..60)
    ) {
        let trace = Trace::new();
        let src = Engine::new("src", SRC_UUID, 1, trace.clone());
        let rep = Engine::new("rep", REP_UUID, 2, trace);
        src.boot(false);
        rep.boot(true);
        start_replica(&rep);
        let mut errant = GtidSet::new();
        let mut next_row = 1u64;
        for op in &ops {
            match *op {
                Op::Write(n) => {
                    for _ in 0..n {
                        let sql = format!("INSERT INTO chaos.counter (id) VALUES ({next_row})");
                        block_on(src.query("app", &sql)).unwrap();
                        next_row += 1;
                    }
                }
                Op::Receive(n) => receive(&src, &rep, n as usize),
                Op::Apply(n) => {
                    rep.apply_relay(n as usize);
                }
                Op::CrashReplica(fenced) => {
                    rep.shutdown();
                    rep.boot(fenced);
                    start_replica(&rep);
                }
                Op::CrashSource => {
                    src.shutdown();
                    src.boot(false);
                }
                Op::Errant(n) => {
                    for g in rep.errant_write(n as u64) {
                        errant.union_with(&GtidSet::parse(&g).unwrap());
                    }
                }
            }
            let committed = src.state().gtid_executed.clone();
            let executed = rep.state().gtid_executed.clone();
            prop_assert!(
                executed.is_subset_of(&committed.union(&errant)),
                "after {op:?}: replica {executed} not within source {committed} + errant {errant}"
            );
            // Rows follow GTIDs: the replica never holds a row the source never wrote.
            let src_rows = src.snapshot().rows;
            prop_assert!(rep.snapshot().rows.iter().all(|r| src_rows.contains(r)));
        }
    }
}

//! The replica IO (receiver) and SQL (applier) threads of one engine.
//!
//! The harness spawns [`run_replica_threads`] on the site's host at every boot. Both threads
//! follow the engine state (START/STOP REPLICA, KILL) by polling it; they end when the mysqld
//! process generation changes (shutdown / reboot).

use std::time::Duration;

use bloodraven::net::SharedDialer;
use bloodraven::sql::SqlError;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::engine::{clock_ms, Engine, ReplicaConfig};
use super::wire::{read_frame, FramedConn, Handshake, Request, Response};

/// How often the threads look at the engine state.
const POLL: Duration = Duration::from_millis(50);
/// Dial + handshake bound.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Retry period while the source cannot be reached (`retry-time: 2`).
pub const CONNECT_RETRY: Duration = Duration::from_secs(2);
/// No frame (not even a heartbeat) for this long: the connection is dead.
pub const READ_TIMEOUT: Duration = Duration::from_secs(10);
/// The SQL thread's apply tick.
const APPLY_TICK: Duration = Duration::from_millis(10);

/// Runs the IO and SQL threads of `engine` until its process generation changes.
pub async fn run_replica_threads(engine: Engine, dialer: SharedDialer) {
    let epoch = engine.epoch();
    let io = AbortOnDrop(tokio::spawn(io_thread(engine.clone(), dialer, epoch)));
    sql_thread(engine, epoch).await;
    drop(io);
}

struct AbortOnDrop<T>(JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

async fn sql_thread(engine: Engine, epoch: u64) {
    let mut budget = 0.0_f64;
    let mut last = clock_ms();
    while engine.alive(epoch) {
        tokio::time::sleep(APPLY_TICK).await;
        let now = clock_ms();
        let dt = now.saturating_sub(last) as f64 / 1000.0;
        last = now;
        let (running, rate, backlog) = {
            let s = engine.state();
            (s.sql_running, s.apply_rate_per_sec, s.relay_log.len())
        };
        if !running || backlog == 0 {
            budget = 0.0;
            continue;
        }
        budget = (budget + dt * rate).min(rate.max(1.0));
        let n = budget.floor() as usize;
        if n > 0 {
            let applied = engine.apply_relay(n);
            budget -= applied as f64;
        }
    }
}

/// Why a receiver connection ended.
enum Ended {
    /// STOP REPLICA / KILL / shutdown.
    Stopped,
    /// Reconnect after [`CONNECT_RETRY`].
    Retry(u16, String),
    /// The thread stops with this error (1236).
    Fatal(u16, String),
}

async fn io_thread(engine: Engine, dialer: SharedDialer, epoch: u64) {
    let mut retries: u64 = 0;
    let mut last_gen = 0;
    while engine.alive(epoch) {
        let Some((gen, cfg)) = engine.io_wanted(epoch) else {
            tokio::time::sleep(POLL).await;
            continue;
        };
        if gen != last_gen {
            retries = 0;
            last_gen = gen;
        }
        match receive(&engine, &dialer, epoch, gen, &cfg, retries).await {
            Ended::Stopped => {}
            Ended::Fatal(code, msg) => engine.io_error(gen, code, msg, true),
            Ended::Retry(code, msg) => {
                retries += 1;
                engine.io_error(gen, code, msg, false);
                let until = tokio::time::Instant::now() + CONNECT_RETRY;
                while tokio::time::Instant::now() < until && engine.io_current(epoch, gen) {
                    tokio::time::sleep(POLL).await;
                }
            }
        }
    }
}

async fn receive(
    engine: &Engine,
    dialer: &SharedDialer,
    epoch: u64,
    gen: u64,
    cfg: &ReplicaConfig,
    retries: u64,
) -> Ended {
    let who = format!("{}@{}:{}", cfg.user, cfg.source_host, cfg.source_port);
    let hs = Handshake {
        user: cfg.user.clone(),
        password: cfg.password.clone(),
        host: Some(engine.site()),
    };
    let opened = tokio::time::timeout(
        CONNECT_TIMEOUT,
        FramedConn::open(dialer, &cfg.source_host, cfg.source_port, &hs),
    )
    .await;
    let connect_error = |code: u16, message: &str| {
        let text = format!("error connecting to source '{who}' - retry-time: 2 retries: {retries} message: {message}");
        Ended::Retry(code, text)
    };
    let mut conn = match opened {
        Ok(Ok(c)) => c,
        Ok(Err(e)) if !e.is_transport() => return connect_error(e.code, &e.message),
        Ok(Err(e)) => return connect_error(SqlError::CANNOT_CONNECT, &e.message),
        Err(_) => {
            let message = format!(
                "Can't connect to MySQL server on '{}:{}' (timed out)",
                cfg.source_host, cfg.source_port
            );
            return connect_error(SqlError::CANNOT_CONNECT, &message);
        }
    };
    if !engine.io_current(epoch, gen) {
        return Ended::Stopped;
    }
    let have = engine.have_set().to_string();
    if let Err(e) = conn.send(&Request::BinlogDump { have }).await {
        return Ended::Retry(
            2013,
            format!("error reconnecting to source '{who}': {}", e.message),
        );
    }
    let source_uuid = conn.server_uuid.clone();
    let Some(mut io) = conn.into_io() else {
        return Ended::Retry(2013, format!("Lost connection to source '{who}'"));
    };
    // Frames are read by a helper task (reads are not cancel-safe), so this loop can look at
    // the engine state and the read timeout while a frame is in flight.
    let (tx, mut rx) = mpsc::channel::<std::io::Result<Response>>(64);
    let _reader = AbortOnDrop(tokio::spawn(async move {
        loop {
            let r = read_frame::<_, Response>(&mut io).await;
            let end = r.is_err();
            if tx.send(r).await.is_err() || end {
                return;
            }
        }
    }));
    engine.io_connected(gen, &source_uuid);
    let mut last_frame = tokio::time::Instant::now();
    loop {
        if !engine.io_current(epoch, gen) {
            return Ended::Stopped;
        }
        match tokio::time::timeout(POLL, rx.recv()).await {
            Ok(Some(Ok(frame))) => {
                last_frame = tokio::time::Instant::now();
                match frame {
                    Response::Txn(txn) => engine.relay_push(gen, txn),
                    Response::Heartbeat {} => {}
                    Response::Err(e) if e.code == 1236 => {
                        return Ended::Fatal(
                            1236,
                            format!("Got fatal error 1236 from source when reading data from binary log: '{}'", e.message),
                        )
                    }
                    Response::Err(e) => return Ended::Retry(e.code, e.message),
                    Response::Ok(_) => return Ended::Retry(2013, format!("unexpected frame from source '{who}'")),
                }
            }
            Ok(Some(Err(e))) => {
                return Ended::Retry(2013, format!("error reconnecting to source '{who}' - retry-time: 2 message: Lost connection ({e})"))
            }
            Ok(None) => return Ended::Retry(2013, format!("error reconnecting to source '{who}' - retry-time: 2 message: Lost connection")),
            Err(_) => {
                if last_frame.elapsed() >= READ_TIMEOUT {
                    return Ended::Retry(
                        2013,
                        format!("error reconnecting to source '{who}' - retry-time: 2 message: no event for {READ_TIMEOUT:?} (network timeout)"),
                    );
                }
            }
        }
    }
}

//! The sidecar's HTTP endpoints (§6.1).

use std::sync::Arc;

use bloodraven::http::{Handler, Reply};
use bloodraven::sql::{QueryResult, SqlError};
use chrono::SecondsFormat;
use serde_json::json;

use crate::fencing::Ctx;
use crate::mysql::{
    parse_read_only, PING_TIMEOUT, SQL_GTID_EXECUTED, SQL_READ_ONLY, SQL_REPLICA_STATUS,
    SQL_SERVER_ID,
};

pub fn handler(ctx: Arc<Ctx>) -> Handler {
    Arc::new(move |method, path| {
        let ctx = ctx.clone();
        Box::pin(async move { handle(&ctx, method, &path).await })
    })
}

pub async fn handle(ctx: &Ctx, method: http::Method, path: &str) -> Reply {
    let path = path.split('?').next().unwrap_or(path);
    let known = matches!(
        path,
        "/health" | "/status" | "/peer/ping" | "/peer/active-site"
    );
    if !known {
        return Reply::text(404, "not found");
    }
    if method != http::Method::GET {
        return Reply::text(405, "method not allowed");
    }
    match path {
        "/health" => match ctx.db().read_only(PING_TIMEOUT).await {
            Ok(_) => Reply::text(200, "ok"),
            Err(_) => Reply::text(503, "mysql unreachable"),
        },
        "/status" => match status(ctx).await {
            Ok(v) => Reply::json(200, &v),
            Err(e) => Reply::json(503, &json!({ "error": format!("mysql unreachable: {e}") })),
        },
        "/peer/ping" => Reply::text(200, "pong"),
        _ => {
            let view = ctx.state().active_view().cloned();
            match view {
                None => Reply {
                    status: 204,
                    content_type: "text/plain; charset=utf-8",
                    body: String::new(),
                },
                Some(v) => Reply::json(
                    200,
                    &json!({
                        "activeSite": v.active_site,
                        "observedAt": v.observed_at.to_rfc3339_opts(SecondsFormat::AutoSi, true),
                    }),
                ),
            }
        }
    }
}

/// `/status`: four statements on one session, bounded by the ping timeout overall.
async fn status(ctx: &Ctx) -> Result<serde_json::Value, SqlError> {
    let db = ctx.db();
    let fut = async {
        let mut conn = db.sql.connect(db.host, db.port).await?;
        let ro = conn.query(SQL_READ_ONLY).await?;
        let gtid = conn.query(SQL_GTID_EXECUTED).await?;
        let server_id = conn.query(SQL_SERVER_ID).await?;
        let replica = conn.query(SQL_REPLICA_STATUS).await?;
        Ok::<_, SqlError>((ro, gtid, server_id, replica))
    };
    let (ro, gtid, server_id, replica) = tokio::time::timeout(PING_TIMEOUT, fut)
        .await
        .map_err(|_| SqlError::transport("status queries timed out"))??;
    let (read_only, super_read_only) = parse_read_only(&ro)?;
    let gtid_executed: String = gtid
        .scalar()
        .unwrap_or("")
        .chars()
        .filter(|c| *c != '\n')
        .collect();
    let server_id: i64 = server_id
        .scalar()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0);
    let running =
        |r: &QueryResult, col: &str| r.get(0, col).is_some_and(|v| v.eq_ignore_ascii_case("Yes"));
    let seconds_behind: Option<i64> = replica
        .get(0, "Seconds_Behind_Source")
        .and_then(|s| s.trim().parse().ok());
    Ok(json!({
        "role": if read_only { "replica" } else { "primary" },
        "read_only": read_only,
        "super_read_only": super_read_only,
        "gtid_executed": gtid_executed,
        "replica_io_running": running(&replica, "Replica_IO_Running"),
        "replica_sql_running": running(&replica, "Replica_SQL_Running"),
        "seconds_behind_source": seconds_behind,
        "server_id": server_id,
        "self_fenced": ctx.state().is_fenced(),
    }))
}

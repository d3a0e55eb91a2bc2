//! HTTP front of the fake apiserver: routing, discovery, verbs, watch streams, faults, trace.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bloodraven::net::Listener;
use bytes::Bytes;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::{Method, Request, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use serde_json::{json, Value};

use super::selector::{parse_query, FieldSelector, LabelSelector};
use super::store::{PatchKind, ResourceDef, Writer};
use super::{ApiError, ApiServer, OutageMode};
use crate::trace::{ApiWrite, EventKind};

type Body = UnsyncBoxBody<Bytes, Infallible>;

pub async fn serve(api: ApiServer, mut listener: Box<dyn Listener>) -> std::io::Result<()> {
    loop {
        let io = listener.accept().await?;
        if api.outage() == Some(OutageMode::Refuse) {
            drop(io);
            continue;
        }
        let api = api.clone();
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
                let api = api.clone();
                async move {
                    if api.outage() == Some(OutageMode::Refuse) {
                        // An error from the service aborts the connection unanswered.
                        return Err(std::io::Error::new(
                            std::io::ErrorKind::ConnectionRefused,
                            "apiserver outage: refusing connections",
                        ));
                    }
                    let write = !matches!(req.method().as_str(), "GET" | "HEAD" | "OPTIONS");
                    let resp = handle(api.clone(), req).await;
                    if write && resp.status().is_success() && api.take_ambiguous_write() {
                        // Applied, then the connection drops before the answer.
                        return Err(std::io::Error::new(
                            std::io::ErrorKind::ConnectionReset,
                            "ambiguous write: applied, connection dropped",
                        ));
                    }
                    Ok(resp)
                }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .serve_connection(TokioIo::new(io), svc)
                .await;
        });
    }
}

fn full(b: impl Into<Bytes>) -> Body {
    Full::new(b.into()).boxed_unsync()
}

fn json_resp(code: u16, v: &Value) -> Response<Body> {
    Response::builder()
        .status(code)
        .header("content-type", "application/json")
        .body(full(v.to_string()))
        .expect("valid response")
}

fn err_resp(e: &ApiError) -> Response<Body> {
    json_resp(e.code, &e.to_status())
}

/// A parsed resource URL.
#[derive(Clone, Debug, PartialEq)]
struct ResReq {
    group: String,
    version: String,
    ns: Option<String>,
    plural: String,
    name: Option<String>,
    sub: Option<String>,
}

#[derive(Clone, Debug, PartialEq)]
enum Route {
    Version,
    Health,
    ApiVersions,
    GroupList,
    Group(String),
    ResourceList(String, String),
    OpenApiIndex,
    OpenApi(String, String),
    Resource(ResReq),
    NotFound,
}

fn route(path: &str) -> Route {
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let (group, version, rest) = match segs.as_slice() {
        ["version"] => return Route::Version,
        ["healthz" | "readyz" | "livez", ..] => return Route::Health,
        ["api"] => return Route::ApiVersions,
        ["apis"] => return Route::GroupList,
        ["openapi", "v3"] => return Route::OpenApiIndex,
        ["openapi", "v3", "api", v] => return Route::OpenApi(String::new(), v.to_string()),
        ["openapi", "v3", "apis", g, v] => return Route::OpenApi(g.to_string(), v.to_string()),
        ["apis", g] => return Route::Group(g.to_string()),
        ["api", v] => return Route::ResourceList(String::new(), v.to_string()),
        ["apis", g, v] => return Route::ResourceList(g.to_string(), v.to_string()),
        ["api", v, rest @ ..] => (String::new(), v.to_string(), rest),
        ["apis", g, v, rest @ ..] => (g.to_string(), v.to_string(), rest),
        _ => return Route::NotFound,
    };
    let s = |x: &&str| x.to_string();
    let (ns, plural, name, sub) = match rest {
        // /namespaces/{name}/status|finalize is the namespace's own subresource.
        ["namespaces", n, sub @ ("status" | "finalize")] if group.is_empty() => {
            (None, "namespaces".to_string(), Some(s(n)), Some(s(sub)))
        }
        ["namespaces", ns, plural, tail @ ..] => (
            Some(s(ns)),
            s(plural),
            tail.first().map(s),
            tail.get(1).map(s),
        ),
        [plural, tail @ ..] => (None, s(plural), tail.first().map(s), tail.get(1).map(s)),
        [] => return Route::NotFound,
    };
    if rest.len() > 5 {
        return Route::NotFound;
    }
    Route::Resource(ResReq {
        group,
        version,
        ns,
        plural,
        name,
        sub,
    })
}

fn verb_of(method: &Method, has_name: bool) -> &'static str {
    match *method {
        Method::POST => "create",
        Method::PUT => "update",
        Method::PATCH => "patch",
        Method::DELETE if has_name => "delete",
        Method::DELETE => "deletecollection",
        _ => "get",
    }
}

fn is_write(method: &Method) -> bool {
    matches!(
        *method,
        Method::POST | Method::PUT | Method::PATCH | Method::DELETE
    )
}

fn truncate(s: &str, n: usize) -> String {
    if s.len() <= n {
        return s.to_string();
    }
    let mut end = n;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &s[..end])
}

fn manager_of(q: &BTreeMap<String, String>, ua: &str) -> String {
    match q.get("fieldManager").filter(|m| !m.is_empty()) {
        Some(m) => m.clone(),
        None => {
            let head = ua.split('/').next().unwrap_or("").trim();
            if head.is_empty() {
                "unknown".to_string()
            } else {
                head.to_string()
            }
        }
    }
}

async fn handle(api: ApiServer, req: Request<Incoming>) -> Response<Body> {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let q = parse_query(req.uri().query());
    let header = |h: &str| {
        req.headers()
            .get(h)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    let ctype = header("content-type");
    let ua = header("user-agent");
    let body = match req.into_body().collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => {
            return err_resp(&ApiError::bad_request(format!(
                "reading the request body: {e}"
            )))
        }
    };
    let r = route(&path);
    let write = is_write(&method);
    let (res_name, trace_target) = match &r {
        Route::Resource(rr) => {
            let name = rr.name.clone().unwrap_or_else(|| {
                serde_json::from_slice::<Value>(&body)
                    .ok()
                    .and_then(|b| {
                        b.pointer("/metadata/name")
                            .or(b.pointer("/metadata/generateName"))
                            .and_then(Value::as_str)
                            .map(str::to_string)
                    })
                    .unwrap_or_default()
            });
            (name, Some(rr.clone()))
        }
        _ => (String::new(), None),
    };
    let record = |ok: bool, name: &str, detail: String| {
        if let (true, Some(rr)) = (write, &trace_target) {
            api.trace.record(EventKind::ApiWrite(Box::new(ApiWrite {
                verb: verb_of(&method, rr.name.is_some()).to_string(),
                resource: rr.plural.clone(),
                name: name.to_string(),
                subresource: rr.sub.clone(),
                ok,
                detail: truncate(&detail, 300),
            })));
        }
    };

    let (outage, latency) = {
        let mut st = api.lock();
        (st.outage, st.next_latency())
    };
    match outage {
        Some(OutageMode::Refuse503 | OutageMode::Refuse) => {
            let e = ApiError::unavailable("the server is currently unable to handle the request");
            record(false, &res_name, format!("{} {}", e.code, e.reason));
            return err_resp(&e);
        }
        Some(OutageMode::Hang) => {
            record(false, &res_name, "hang: no answer".into());
            std::future::pending::<()>().await;
        }
        None => {}
    }
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }

    let rr = match r {
        Route::Version => {
            return json_resp(
                200,
                &json!({"major": "1", "minor": "33", "gitVersion": "v1.33.0-fake", "platform": "linux/amd64",
                        "goVersion": "go1.24", "compiler": "gc", "gitCommit": "0000000000000000000000000000000000000000",
                        "gitTreeState": "clean", "buildDate": "2025-01-01T00:00:00Z"}),
            )
        }
        Route::Health => {
            return Response::builder()
                .status(200)
                .header("content-type", "text/plain")
                .body(full("ok"))
                .expect("valid")
        }
        Route::ApiVersions => {
            return json_resp(
                200,
                &json!({"kind": "APIVersions", "versions": ["v1"],
                        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "apiserver:6443"}]}),
            )
        }
        Route::GroupList => return json_resp(200, &group_list(&api)),
        Route::Group(g) => {
            let list = group_list(&api);
            let found = list["groups"]
                .as_array()
                .and_then(|a| a.iter().find(|x| x["name"] == json!(g)).cloned());
            return match found {
                Some(mut grp) => {
                    grp["kind"] = json!("APIGroup");
                    grp["apiVersion"] = json!("v1");
                    json_resp(200, &grp)
                }
                None => err_resp(&not_found_generic()),
            };
        }
        Route::ResourceList(g, v) => {
            return match resource_list(&api, &g, &v) {
                Some(l) => json_resp(200, &l),
                None => err_resp(&not_found_generic()),
            }
        }
        Route::OpenApiIndex => return json_resp(200, &super::openapi::index(&api.lock())),
        Route::OpenApi(g, v) => {
            return match super::openapi::document(&api.lock(), &g, &v) {
                Some(doc) => json_resp(200, &doc),
                None => err_resp(&not_found_generic()),
            }
        }
        Route::NotFound => return err_resp(&not_found_generic()),
        Route::Resource(rr) => rr,
    };

    let def = {
        let st = api.lock();
        st.def(&rr.group, &rr.plural)
            .filter(|d| d.versions.contains(&rr.version))
    };
    let Some(def) = def else {
        let e = not_found_generic();
        record(false, &res_name, format!("{} {}", e.code, e.message));
        return err_resp(&e);
    };
    if !def.namespaced && rr.ns.is_some() {
        let e = not_found_generic();
        record(false, &res_name, format!("{} {}", e.code, e.message));
        return err_resp(&e);
    }
    if let Some(sub) = &rr.sub {
        if !(sub == "status" && def.status) {
            let e = not_found_generic();
            record(false, &res_name, format!("{} {}", e.code, e.message));
            return err_resp(&e);
        }
    }

    if write {
        let denied = {
            let st = api.lock();
            // `Some("")` scopes a denial to the object itself (no subresource).
            let sub = rr.sub.clone().unwrap_or_default();
            st.denied.contains(&(rr.plural.clone(), None))
                || st.denied.contains(&(rr.plural.clone(), Some(sub)))
        };
        if denied {
            let verb = verb_of(&method, rr.name.is_some());
            let resource = match &rr.sub {
                Some(s) => format!("{}/{s}", rr.plural),
                None => rr.plural.clone(),
            };
            let scope = match &rr.ns {
                Some(ns) => format!(" in the namespace \"{ns}\""),
                None => " at the cluster scope".to_string(),
            };
            let e = ApiError::forbidden_msg(format!(
                "{} \"{}\" is forbidden: User \"system:serviceaccount:bloodraven:bloodraven\" cannot {verb} resource \"{resource}\" in API group \"{}\"{scope}",
                def.qualified(),
                res_name,
                rr.group
            ));
            record(false, &res_name, format!("403 Forbidden: {}", e.message));
            return err_resp(&e);
        }
    }

    let result = handle_resource(&api, &def, &rr, &method, &q, &ctype, &ua, &body).await;
    if write && result.is_ok() && matches!(def.plural.as_str(), "nodes" | "pods") {
        super::eviction::sweep(&mut api.lock());
    }
    match result {
        Ok(Reply::Object(code, v)) => {
            if write {
                let name = v
                    .pointer("/metadata/name")
                    .and_then(Value::as_str)
                    .unwrap_or(&res_name)
                    .to_string();
                let detail = if method == Method::PATCH {
                    format!("{code} {}", String::from_utf8_lossy(&body))
                } else {
                    code.to_string()
                };
                record(true, &name, detail);
            }
            json_resp(code, &with_version_shared(&def, &rr.version, v))
        }
        Ok(Reply::Json(code, bytes)) => Response::builder()
            .status(code)
            .header("content-type", "application/json")
            .body(full(bytes))
            .expect("valid response"),
        Ok(Reply::Raw(resp)) => {
            if write {
                record(true, &res_name, "200".into());
            }
            resp
        }
        Err(e) => {
            record(
                false,
                &res_name,
                format!("{} {}: {}", e.code, e.reason, e.message),
            );
            err_resp(&e)
        }
    }
}

enum Reply {
    /// Shared with the store where the reply is a stored object as is.
    Object(u16, Arc<Value>),
    /// Already serialized (lists, written from borrowed objects).
    Json(u16, Vec<u8>),
    Raw(Response<Body>),
}

/// A list reply serialized straight from the stored objects. The fields are in
/// alphabetical order, as a `json!` object (a sorted map) would print them.
#[derive(serde::Serialize)]
struct ListReply<'a> {
    #[serde(rename = "apiVersion")]
    api_version: String,
    items: Vec<&'a Value>,
    kind: String,
    metadata: Value,
}

fn not_found_generic() -> ApiError {
    ApiError::new(
        404,
        "NotFound",
        "the server could not find the requested resource",
    )
}

/// [`with_version`] for a shared object: copies it only when the version differs.
fn with_version_shared(def: &ResourceDef, version: &str, v: Arc<Value>) -> Arc<Value> {
    let api_version = def.api_version(version);
    if v.get("kind").and_then(Value::as_str) == Some(def.kind.as_str())
        && v.get("apiVersion").and_then(Value::as_str) != Some(api_version.as_str())
    {
        Arc::new(with_version(def, version, Arc::unwrap_or_clone(v)))
    } else {
        v
    }
}

fn with_version(def: &ResourceDef, version: &str, mut v: Value) -> Value {
    if v.get("kind").and_then(Value::as_str) == Some(def.kind.as_str()) {
        if let Some(o) = v.as_object_mut() {
            o.insert("apiVersion".into(), json!(def.api_version(version)));
        }
    }
    v
}

fn selectors(q: &BTreeMap<String, String>) -> Result<(LabelSelector, FieldSelector), ApiError> {
    let l = LabelSelector::parse(q.get("labelSelector").map(String::as_str).unwrap_or(""))
        .map_err(|e| ApiError::bad_request(format!("unable to parse requirement: {e}")))?;
    let f = FieldSelector::parse(q.get("fieldSelector").map(String::as_str).unwrap_or(""))
        .map_err(|e| ApiError::bad_request(format!("invalid field selector: {e}")))?;
    Ok((l, f))
}

fn hex(s: &str) -> String {
    s.bytes().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Option<String> {
    let bytes: Option<Vec<u8>> = (0..s.len())
        .step_by(2)
        .map(|i| s.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok()))
        .collect();
    bytes.and_then(|b| String::from_utf8(b).ok())
}

#[allow(clippy::too_many_arguments)]
async fn handle_resource(
    api: &ApiServer,
    def: &ResourceDef,
    rr: &ResReq,
    method: &Method,
    q: &BTreeMap<String, String>,
    ctype: &str,
    ua: &str,
    body: &Bytes,
) -> Result<Reply, ApiError> {
    let ns = rr.ns.as_deref().unwrap_or("");
    let writer = Writer {
        manager: manager_of(q, ua),
        dry_run: q.get("dryRun").is_some_and(|d| d == "All"),
    };
    let strict = match q.get("fieldValidation").map(String::as_str) {
        None | Some("" | "Ignore" | "Warn") => false,
        Some("Strict") => true,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "fieldValidation parameter unsupported: {other:?} (expected Ignore, Warn or Strict)"
            )))
        }
    };
    // Strict validation judges the object the write would produce: a dry run first.
    let dry = Writer {
        dry_run: true,
        ..writer.clone()
    };
    let check = |st: &super::store::Store, r: Result<Value, ApiError>| -> Result<(), ApiError> {
        match r {
            Ok(v) if strict => match super::openapi::unknown_field(st, def, &rr.version, &v) {
                Some(field) => Err(ApiError::bad_request(format!(
                    "{kind} in version \"{version}\" cannot be handled as a {kind}: strict decoding error: unknown field \"{field}\"",
                    kind = def.kind,
                    version = rr.version
                ))),
                None => Ok(()),
            },
            _ => Ok(()),
        }
    };
    let parse_body = || -> Result<Value, ApiError> {
        if ctype.starts_with("application/vnd.kubernetes.protobuf")
            || ctype.starts_with("application/cbor")
        {
            return Err(ApiError::new(
                415,
                "UnsupportedMediaType",
                format!("the fake apiserver only decodes JSON request bodies, not {ctype:?}"),
            ));
        }
        serde_json::from_slice(body).map_err(|e| {
            ApiError::bad_request(format!(
                "the body of the request could not be decoded as JSON: {e}"
            ))
        })
    };
    match (method, &rr.name) {
        (&Method::GET, None) => {
            let watch = q.get("watch").is_some_and(|w| w == "true" || w == "1");
            let (ls, fs) = selectors(q)?;
            if watch {
                return Ok(Reply::Raw(start_watch(
                    api.clone(),
                    def.clone(),
                    rr,
                    q,
                    ls,
                    fs,
                )?));
            }
            let (items, rv) = api.lock().read_list(def, rr.ns.as_deref());
            let mut items: Vec<Arc<Value>> = items
                .into_iter()
                .filter(|o| ls.matches(o) && fs.matches(o))
                .map(|o| with_version_shared(def, &rr.version, o))
                .collect();
            let key = |o: &Value| {
                format!(
                    "{}/{}",
                    o.pointer("/metadata/namespace")
                        .and_then(Value::as_str)
                        .unwrap_or(""),
                    o.pointer("/metadata/name")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                )
            };
            if let Some(after) = q.get("continue").filter(|c| !c.is_empty()) {
                let after =
                    unhex(after).ok_or_else(|| ApiError::bad_request("invalid continue token"))?;
                items.retain(|o| key(o) > after);
            }
            let mut meta = json!({"resourceVersion": rv.to_string()});
            if let Some(limit) = q
                .get("limit")
                .and_then(|l| l.parse::<usize>().ok())
                .filter(|l| *l > 0)
            {
                if items.len() > limit {
                    items.truncate(limit);
                    meta["continue"] = json!(hex(&key(&items[limit - 1])));
                    meta["remainingItemCount"] = json!(0);
                }
            }
            let reply = ListReply {
                api_version: def.api_version(&rr.version),
                items: items.iter().map(|o| o.as_ref()).collect(),
                kind: format!("{}List", def.kind),
                metadata: meta,
            };
            let bytes = serde_json::to_vec(&reply).expect("lists serialize");
            Ok(Reply::Json(200, bytes))
        }
        (&Method::GET, Some(name)) => {
            let mut st = api.lock();
            st.read_get(def, ns, name)
                .map(|v| Reply::Object(200, v))
                .ok_or_else(|| ApiError::not_found(def, name))
        }
        (&Method::POST, None) => {
            let b = parse_body()?;
            let mut st = api.lock();
            if strict {
                let r = st.probe(|st| st.create(def, rr.ns.as_deref(), b.clone(), &dry));
                check(&st, r)?;
            }
            st.create(def, rr.ns.as_deref(), b, &writer)
                .map(|v| Reply::Object(201, v.into()))
        }
        (&Method::PUT, Some(name)) => {
            let b = parse_body()?;
            let mut st = api.lock();
            if strict {
                let r =
                    st.probe(|st| st.replace(def, ns, name, rr.sub.as_deref(), b.clone(), &dry));
                check(&st, r)?;
            }
            st.replace(def, ns, name, rr.sub.as_deref(), b, &writer)
                .map(|v| Reply::Object(200, v.into()))
        }
        (&Method::PATCH, Some(name)) => {
            let ct = ctype.split(';').next().unwrap_or("").trim();
            let kind = match ct {
                "application/merge-patch+json" => PatchKind::Merge,
                "application/json-patch+json" => PatchKind::Json,
                "application/strategic-merge-patch+json" => PatchKind::Strategic,
                "application/apply-patch+yaml" | "application/apply-patch+json" => {
                    PatchKind::Apply { force: q.get("force").is_some_and(|f| f == "true") }
                }
                other => {
                    return Err(ApiError::new(
                        415,
                        "UnsupportedMediaType",
                        format!("the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml (got {other:?})"),
                    ))
                }
            };
            let b = parse_body()?;
            let mut st = api.lock();
            if strict {
                let r = st.probe(|st| st.patch(def, ns, name, rr.sub.as_deref(), kind, &b, &dry));
                check(&st, r.map(|(_, v)| v))?;
            }
            st.patch(def, ns, name, rr.sub.as_deref(), kind, &b, &writer)
                .map(|(c, v)| Reply::Object(c, v.into()))
        }
        (&Method::DELETE, Some(name)) => {
            if rr.sub.is_some() {
                return Err(ApiError::method_not_allowed(
                    "DELETE is not supported on a subresource",
                ));
            }
            let opts: Option<Value> = if body.is_empty() {
                None
            } else {
                Some(parse_body()?)
            };
            let dry = writer.dry_run
                || opts
                    .as_ref()
                    .and_then(|o| o.get("dryRun"))
                    .is_some_and(|d| d == &json!(["All"]));
            api.lock()
                .delete(def, ns, name, opts.as_ref(), dry)
                .map(|v| Reply::Object(200, v.into()))
        }
        (&Method::DELETE, None) => {
            let (ls, fs) = selectors(q)?;
            let mut st = api.lock();
            let victims: Vec<Arc<Value>> = st
                .list(def, rr.ns.as_deref())
                .into_iter()
                .filter(|o| ls.matches(o) && fs.matches(o))
                .collect();
            let mut deleted = Vec::new();
            for v in victims {
                let vns = v
                    .pointer("/metadata/namespace")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string();
                let vname = v
                    .pointer("/metadata/name")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string();
                if let Ok(d) = st.delete(def, &vns, &vname, None, writer.dry_run) {
                    deleted.push(with_version(def, &rr.version, d));
                }
            }
            let rv = st.rv();
            Ok(Reply::Object(
                200,
                json!({"apiVersion": def.api_version(&rr.version), "kind": format!("{}List", def.kind),
                       "metadata": {"resourceVersion": rv.to_string()}, "items": deleted})
                .into(),
            ))
        }
        _ => Err(ApiError::method_not_allowed(format!(
            "the server does not allow this method on the requested resource ({method})"
        ))),
    }
}

fn watch_line(etype: &str, obj: &Value) -> Bytes {
    let mut s = json!({"type": etype, "object": obj}).to_string();
    s.push('\n');
    Bytes::from(s)
}

fn start_watch(
    api: ApiServer,
    def: ResourceDef,
    rr: &ResReq,
    q: &BTreeMap<String, String>,
    ls: LabelSelector,
    fs: FieldSelector,
) -> Result<Response<Body>, ApiError> {
    let ns = rr.ns.clone();
    let version = rr.version.clone();
    let bookmarks = q.get("allowWatchBookmarks").is_some_and(|b| b == "true");
    let send_initial = q.get("sendInitialEvents").is_some_and(|b| b == "true");
    let timeout = q
        .get("timeoutSeconds")
        .and_then(|t| t.parse::<u64>().ok())
        .unwrap_or(1800);
    let from = q
        .get("resourceVersion")
        .filter(|r| !r.is_empty() && *r != "0");
    let start: Option<u64> = match from {
        Some(r) => Some(
            r.parse()
                .map_err(|_| ApiError::bad_request(format!("invalid resourceVersion {r:?}")))?,
        ),
        None => None,
    };
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(256);
    let (mut rv_rx, mut drop_rx, mut outage_rx, mut stall_rx) = {
        let st = api.lock();
        (
            st.rv_tx.subscribe(),
            st.drop_tx.subscribe(),
            st.outage_tx.subscribe(),
            st.watch_stall_tx.subscribe(),
        )
    };
    tokio::spawn(async move {
        let key = def.key();
        let matches = |o: &Value| ls.matches(o) && fs.matches(o);
        let bookmark_obj = |rv: u64, initial_end: bool| {
            let mut m = json!({"resourceVersion": rv.to_string()});
            if initial_end {
                m["annotations"] = json!({"k8s.io/initial-events-end": "true"});
            }
            json!({"kind": def.kind, "apiVersion": def.api_version(&version), "metadata": m})
        };
        // Initial state.
        let mut last = match start {
            Some(rv) => rv,
            None => {
                // The initial list comes from the read path (an older copy under stale reads).
                let (items, rv) = api.lock().read_list(&def, ns.as_deref());
                for o in items.into_iter().filter(|o| matches(o)) {
                    if tx
                        .send(watch_line("ADDED", &with_version_shared(&def, &version, o)))
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
                if send_initial
                    && tx
                        .send(watch_line("BOOKMARK", &bookmark_obj(rv, true)))
                        .await
                        .is_err()
                {
                    return;
                }
                rv
            }
        };
        let deadline = tokio::time::sleep(Duration::from_secs(timeout));
        tokio::pin!(deadline);
        let mut ticker = tokio::time::interval(Duration::from_secs(10));
        ticker.tick().await;
        loop {
            let outage = *outage_rx.borrow_and_update();
            match outage {
                Some(OutageMode::Refuse503 | OutageMode::Refuse) => return,
                Some(OutageMode::Hang) => {
                    // Silent until the outage heals (or the client goes away).
                    tokio::select! {
                        _ = outage_rx.changed() => continue,
                        _ = tx.closed() => return,
                    }
                }
                None => {}
            }
            if *stall_rx.borrow_and_update() {
                // Silently stalled: nothing is sent; the end of the stall ends the stream.
                tokio::select! {
                    _ = drop_rx.changed() => return,
                    _ = stall_rx.changed() => return,
                    _ = tx.closed() => return,
                }
            }
            // Under stale reads the stream lags like a slow watch cache: it delivers changes
            // only up to the resourceVersion of the stale copy, and looks again when that is
            // retaken.
            let (changes, retake) = {
                let mut st = api.lock();
                let horizon = st.read_horizon();
                let upto = horizon.map_or(st.rv(), |(rv, _)| rv);
                let changes = st.changes_since(&key, ns.as_deref(), last).map(|c| {
                    let c: Vec<_> = c.into_iter().filter(|c| c.rv <= upto).collect();
                    (c, upto)
                });
                (changes, horizon.map(|(_, wait)| wait))
            };
            match changes {
                Err(()) => {
                    let e = ApiError::gone(format!("too old resource version: {last} (compacted)"));
                    let _ = tx.send(watch_line("ERROR", &e.to_status())).await;
                    return;
                }
                Ok((changes, now)) => {
                    for c in changes {
                        let object = c.object();
                        if matches(&object) {
                            let obj = with_version(&def, &version, object);
                            if tx.send(watch_line(c.etype, &obj)).await.is_err() {
                                return;
                            }
                        }
                    }
                    last = last.max(now);
                }
            }
            let retake = async {
                match retake {
                    Some(wait) => tokio::time::sleep(wait.max(Duration::from_millis(1))).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = retake => {},
                r = rv_rx.changed() => if r.is_err() { return },
                _ = drop_rx.changed() => return,
                _ = outage_rx.changed() => {},
                _ = &mut deadline => return,
                _ = ticker.tick(), if bookmarks => {
                    if tx.send(watch_line("BOOKMARK", &bookmark_obj(last, false))).await.is_err() {
                        return;
                    }
                }
                _ = tx.closed() => return,
            }
        }
    });
    let stream = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|b| (Ok::<_, Infallible>(Frame::data(b)), rx))
    });
    Ok(Response::builder()
        .status(200)
        .header("content-type", "application/json")
        .body(StreamBody::new(stream).boxed_unsync())
        .expect("valid response"))
}

fn group_list(api: &ApiServer) -> Value {
    let st = api.lock();
    let mut groups: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for d in st.defs().filter(|d| !d.group.is_empty()) {
        let vs = groups.entry(d.group.clone()).or_default();
        for v in &d.versions {
            if !vs.contains(v) {
                vs.push(v.clone());
            }
        }
    }
    let groups: Vec<Value> = groups
        .into_iter()
        .map(|(g, vs)| {
            let versions: Vec<Value> = vs
                .iter()
                .map(|v| json!({"groupVersion": format!("{g}/{v}"), "version": v}))
                .collect();
            json!({"name": g, "versions": versions, "preferredVersion": versions[0].clone()})
        })
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

fn resource_list(api: &ApiServer, group: &str, version: &str) -> Option<Value> {
    let st = api.lock();
    let verbs = json!([
        "create",
        "delete",
        "deletecollection",
        "get",
        "list",
        "patch",
        "update",
        "watch"
    ]);
    let mut resources = Vec::new();
    for d in st
        .defs()
        .filter(|d| d.group == group && d.versions.iter().any(|v| v == version))
    {
        let mut r = json!({"name": d.plural, "singularName": d.singular, "namespaced": d.namespaced,
                           "kind": d.kind, "verbs": verbs});
        if !d.short_names.is_empty() {
            r["shortNames"] = json!(d.short_names);
        }
        if d.custom {
            r["categories"] = json!(["all"]);
        }
        resources.push(r);
        if d.status {
            resources.push(json!({"name": format!("{}/status", d.plural), "singularName": "",
                                  "namespaced": d.namespaced, "kind": d.kind, "verbs": ["get", "patch", "update"]}));
        }
    }
    if resources.is_empty() {
        return None;
    }
    let gv = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    Some(
        json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources}),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fake_k8s_routes() {
        let r = |ns: Option<&str>,
                 plural: &str,
                 name: Option<&str>,
                 sub: Option<&str>,
                 g: &str,
                 v: &str| {
            Route::Resource(ResReq {
                group: g.into(),
                version: v.into(),
                ns: ns.map(Into::into),
                plural: plural.into(),
                name: name.map(Into::into),
                sub: sub.map(Into::into),
            })
        };
        assert_eq!(
            route("/api/v1/namespaces/d/configmaps"),
            r(Some("d"), "configmaps", None, None, "", "v1")
        );
        assert_eq!(
            route("/api/v1/namespaces/d"),
            r(None, "namespaces", Some("d"), None, "", "v1")
        );
        assert_eq!(
            route("/api/v1/namespaces/d/status"),
            r(None, "namespaces", Some("d"), Some("status"), "", "v1")
        );
        assert_eq!(
            route("/api/v1/nodes/n1"),
            r(None, "nodes", Some("n1"), None, "", "v1")
        );
        assert_eq!(
            route("/apis/shipstream.io/v1alpha1/namespaces/d/mysqlfailovergroups/g/status"),
            r(
                Some("d"),
                "mysqlfailovergroups",
                Some("g"),
                Some("status"),
                "shipstream.io",
                "v1alpha1"
            )
        );
        assert_eq!(
            route("/apis/apps/v1"),
            Route::ResourceList("apps".into(), "v1".into())
        );
        assert_eq!(route("/api"), Route::ApiVersions);
        assert_eq!(route("/version"), Route::Version);
    }
}

//! The OpenAPI v3 documents the fake apiserver publishes (`/openapi/v3` and one document per
//! group-version), and the strict field validation they imply.
//!
//! kubectl reads them before `apply`/`create` (does the server validate fields itself? it
//! looks for a `fieldValidation` parameter on the kind's PATCH operation) and for `explain`.
//! Schemas come from where the real apiserver gets them: built-in kinds from the Kubernetes
//! API definitions (k8s-openapi's schemas), custom kinds from the `openAPIV3Schema` of their
//! stored CustomResourceDefinition. Kinds registered without either get an open object schema.

use k8s_openapi::api::core::v1 as c;
use k8s_openapi::api::{apps, coordination, events, networking, policy, rbac};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use schemars::generate::{SchemaGenerator, SchemaSettings};
use schemars::JsonSchema;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use super::store::{ResourceDef, Store};

const REF_PREFIX: &str = "#/components/schemas/";

/// `api/v1` or `apis/<group>/<version>`, as the index and the URLs name a group-version.
fn gv_path(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("api/{version}")
    } else {
        format!("apis/{group}/{version}")
    }
}

/// Every served group-version, sorted.
fn group_versions(st: &Store) -> Vec<(String, String)> {
    let mut gvs: Vec<(String, String)> = st
        .defs()
        .flat_map(|d| d.versions.iter().map(|v| (d.group.clone(), v.clone())))
        .collect();
    gvs.sort();
    gvs.dedup();
    gvs
}

/// `GET /openapi/v3`: the group-versions and where their documents are (with a content hash,
/// which kubectl uses as its cache key).
pub fn index(st: &Store) -> Value {
    let mut paths = Map::new();
    for (g, v) in group_versions(st) {
        let doc = document(st, &g, &v).expect("a served group-version has a document");
        let hash = hex(&Sha256::digest(doc.to_string().as_bytes()));
        let p = gv_path(&g, &v);
        paths.insert(
            p.clone(),
            json!({"serverRelativeURL": format!("/openapi/v3/{p}?hash={hash}")}),
        );
    }
    json!({ "paths": paths })
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02X}")).collect()
}

/// `GET /openapi/v3/<api/v1 | apis/g/v>`; None for a group-version the server does not serve.
pub fn document(st: &Store, group: &str, version: &str) -> Option<Value> {
    let defs: Vec<ResourceDef> = st
        .defs()
        .filter(|d| d.group == group && d.versions.iter().any(|v| v == version))
        .cloned()
        .collect();
    if defs.is_empty() {
        return None;
    }
    let mut gen = generator();
    let mut paths = Map::new();
    let mut names = Vec::new();
    for def in &defs {
        let name = kind_schema(st, def, version, &mut gen);
        add_paths(&mut paths, def, version, &name);
        names.push((def.kind.clone(), name));
    }
    let mut schemas = gen.take_definitions(true);
    for (kind, name) in names {
        if let Some(s) = schemas.get_mut(&name).and_then(Value::as_object_mut) {
            s.insert(
                "x-kubernetes-group-version-kind".into(),
                json!([{"group": group, "kind": kind, "version": version}]),
            );
        }
    }
    Some(json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "v1.33.0-fake"},
        "paths": paths,
        "components": {"schemas": schemas},
    }))
}

fn generator() -> SchemaGenerator {
    SchemaSettings::openapi3().into_generator()
}

fn name_of<T: JsonSchema>(gen: &mut SchemaGenerator) -> String {
    gen.subschema_for::<T>();
    T::schema_name().into_owned()
}

/// Registers the schema of `def`'s kind at `version` in `gen`; returns its component name.
fn kind_schema(st: &Store, def: &ResourceDef, version: &str, gen: &mut SchemaGenerator) -> String {
    if let Some(name) = builtin_schema(&def.group, &def.kind, gen) {
        return name;
    }
    // Custom and unknown kinds: the published name reverses the group, as the apiserver does.
    let reversed: Vec<&str> = def.group.split('.').rev().collect();
    let name = format!("{}.{version}.{}", reversed.join("."), def.kind);
    let mut schema = crd_schema(st, def, version)
        .unwrap_or_else(|| json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true}));
    let meta = name_of::<ObjectMeta>(gen);
    let o = schema.as_object_mut().expect("a schema is an object");
    o.entry("type").or_insert(json!("object"));
    let props = o
        .entry("properties")
        .or_insert_with(|| json!({}))
        .as_object_mut()
        .expect("properties is an object");
    for f in ["apiVersion", "kind"] {
        props.entry(f).or_insert(json!({"type": "string"}));
    }
    props.insert(
        "metadata".into(),
        json!({"allOf": [{"$ref": format!("{REF_PREFIX}{meta}")}]}),
    );
    gen.definitions_mut().insert(name.clone(), schema);
    name
}

/// The `openAPIV3Schema` of `def` at `version` from its stored CustomResourceDefinition.
fn crd_schema(st: &Store, def: &ResourceDef, version: &str) -> Option<Value> {
    let crds = st.def("apiextensions.k8s.io", "customresourcedefinitions")?;
    let crd = st.get(&crds, "", &def.qualified())?;
    crd.pointer("/spec/versions")?
        .as_array()?
        .iter()
        .find(|v| v["name"] == json!(version))?
        .pointer("/schema/openAPIV3Schema")
        .cloned()
}

/// The Kubernetes API definition of a built-in kind (None for kinds the fake does not know).
fn builtin_schema(group: &str, kind: &str, gen: &mut SchemaGenerator) -> Option<String> {
    Some(match (group, kind) {
        ("", "Namespace") => name_of::<c::Namespace>(gen),
        ("", "Event") => name_of::<c::Event>(gen),
        ("", "Pod") => name_of::<c::Pod>(gen),
        ("", "Service") => name_of::<c::Service>(gen),
        ("", "Endpoints") => name_of::<c::Endpoints>(gen),
        ("", "ConfigMap") => name_of::<c::ConfigMap>(gen),
        ("", "Secret") => name_of::<c::Secret>(gen),
        ("", "ServiceAccount") => name_of::<c::ServiceAccount>(gen),
        ("", "Node") => name_of::<c::Node>(gen),
        ("", "PersistentVolumeClaim") => name_of::<c::PersistentVolumeClaim>(gen),
        ("events.k8s.io", "Event") => name_of::<events::v1::Event>(gen),
        ("apps", "Deployment") => name_of::<apps::v1::Deployment>(gen),
        ("apps", "StatefulSet") => name_of::<apps::v1::StatefulSet>(gen),
        ("policy", "PodDisruptionBudget") => name_of::<policy::v1::PodDisruptionBudget>(gen),
        ("coordination.k8s.io", "Lease") => name_of::<coordination::v1::Lease>(gen),
        ("apiextensions.k8s.io", "CustomResourceDefinition") => {
            name_of::<CustomResourceDefinition>(gen)
        }
        ("rbac.authorization.k8s.io", "ClusterRole") => name_of::<rbac::v1::ClusterRole>(gen),
        ("rbac.authorization.k8s.io", "ClusterRoleBinding") => {
            name_of::<rbac::v1::ClusterRoleBinding>(gen)
        }
        ("rbac.authorization.k8s.io", "Role") => name_of::<rbac::v1::Role>(gen),
        ("rbac.authorization.k8s.io", "RoleBinding") => name_of::<rbac::v1::RoleBinding>(gen),
        ("networking.k8s.io", "NetworkPolicy") => name_of::<networking::v1::NetworkPolicy>(gen),
        _ => return None,
    })
}

/// The REST paths of `def`, each operation tagged with the kind (how kubectl finds them) and
/// listing the query parameters the fake honours (`fieldValidation` among them). PATCH does
/// not list its content types: without `strategic-merge-patch+json` there kubectl takes the
/// patch metadata (merge keys) of built-in kinds from its compiled-in types, which carry what
/// k8s-openapi's schemas lack (`x-kubernetes-patch-merge-key`).
fn add_paths(paths: &mut Map<String, Value>, def: &ResourceDef, version: &str, schema: &str) {
    let gvk = json!({"group": def.group, "version": version, "kind": def.kind});
    let body = json!({"content": {"application/json": {"schema": {"$ref": format!("{REF_PREFIX}{schema}")}}}});
    let param = |name: &str| json!({"name": name, "in": "query", "schema": {"type": "string"}, "uniqueItems": true});
    let op = |action: &str, params: &[&str], with_body: bool| {
        let mut o = json!({
            "operationId": format!("{action}{}", def.kind),
            "x-kubernetes-action": action,
            "x-kubernetes-group-version-kind": gvk,
            "parameters": params.iter().map(|p| param(p)).collect::<Vec<_>>(),
            "responses": {"200": {"description": "OK", "content": body["content"].clone()}},
        });
        if with_body {
            o["requestBody"] = body.clone();
        }
        o
    };
    let write = ["dryRun", "fieldManager", "fieldValidation"];
    let patch = ["dryRun", "fieldManager", "fieldValidation", "force"];
    let base = format!("/{}", gv_path(&def.group, version));
    let coll = if def.namespaced {
        format!("{base}/namespaces/{{namespace}}/{}", def.plural)
    } else {
        format!("{base}/{}", def.plural)
    };
    paths.insert(
        coll.clone(),
        json!({
            "get": op("list", &["labelSelector", "fieldSelector", "limit", "continue", "watch"], false),
            "post": op("post", &write, true),
        }),
    );
    let item = json!({
        "get": op("get", &[], false),
        "put": op("put", &write, true),
        "patch": op("patch", &patch, true),
        "delete": op("delete", &["dryRun", "propagationPolicy"], false),
    });
    paths.insert(format!("{coll}/{{name}}"), item);
    if def.status {
        paths.insert(
            format!("{coll}/{{name}}/status"),
            json!({
                "get": op("get", &[], false),
                "put": op("put", &write, true),
                "patch": op("patch", &patch, true),
            }),
        );
    }
}

/// The first field of `obj` its kind's published schema does not declare (`spec.foo`,
/// `spec.containers[0].bogus`), as `fieldValidation=Strict` rejects it.
pub fn unknown_field(st: &Store, def: &ResourceDef, version: &str, obj: &Value) -> Option<String> {
    let mut gen = generator();
    let name = kind_schema(st, def, version, &mut gen);
    let defs = gen.take_definitions(true);
    let root = defs.get(&name)?;
    walk(&defs, root, obj, "")
}

fn resolve<'a>(defs: &'a Map<String, Value>, s: &'a Value) -> &'a Value {
    match s.get("$ref").and_then(Value::as_str) {
        Some(r) => defs
            .get(r.strip_prefix(REF_PREFIX).unwrap_or(r))
            .unwrap_or(s),
        None => s,
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

fn walk(defs: &Map<String, Value>, schema: &Value, v: &Value, path: &str) -> Option<String> {
    let s = resolve(defs, schema);
    if s.get("x-kubernetes-preserve-unknown-fields") == Some(&json!(true)) {
        return None;
    }
    // Composition: a field is unknown only if no branch declares it.
    for key in ["allOf", "anyOf", "oneOf"] {
        if let Some(branches) = s.get(key).and_then(Value::as_array) {
            let errs: Vec<Option<String>> =
                branches.iter().map(|b| walk(defs, b, v, path)).collect();
            if errs.iter().any(Option::is_none) {
                return None;
            }
            return errs.into_iter().flatten().next();
        }
    }
    match v {
        Value::Object(fields) => {
            let props = s.get("properties").and_then(Value::as_object);
            let extra = s.get("additionalProperties");
            for (k, fv) in fields {
                let p = join(path, k);
                let sub = match (props.and_then(|p| p.get(k)), extra) {
                    (Some(sub), _) => sub,
                    (None, Some(sub)) if sub.is_object() => sub,
                    (None, Some(Value::Bool(true))) => continue,
                    // An object schema that declares nothing constrains nothing (RawExtension).
                    (None, _) if props.is_none() => continue,
                    (None, _) => return Some(p),
                };
                if let Some(e) = walk(defs, sub, fv, &p) {
                    return Some(e);
                }
            }
            None
        }
        Value::Array(items) => {
            let sub = s.get("items")?;
            items
                .iter()
                .enumerate()
                .find_map(|(i, it)| walk(defs, sub, it, &format!("{path}[{i}]")))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use serde_json::json;

    use super::*;
    use crate::fake_k8s::ApiServer;
    use crate::trace::Trace;
    use crate::world::clock::SimClock;

    /// A server with one CRD whose schema declares `spec.size` only.
    fn api() -> ApiServer {
        let api = ApiServer::new(Arc::new(SimClock::new()), Trace::new());
        let schema = json!({"type": "object", "properties": {
            "spec": {"type": "object", "properties": {"size": {"type": "integer"}}},
            "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}});
        let crd = json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
                   "metadata": {"name": "widgets.example.com"},
                   "spec": {"group": "example.com", "scope": "Namespaced",
                            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
                            "versions": [{"name": "v1", "served": true, "storage": true,
                                          "schema": {"openAPIV3Schema": schema}}]}});
        {
            let mut st = api.lock();
            let def = st
                .def("apiextensions.k8s.io", "customresourcedefinitions")
                .unwrap();
            let w = crate::fake_k8s::store::Writer {
                manager: "test".into(),
                dry_run: false,
            };
            st.create(&def, None, crd, &w).unwrap();
        }
        api
    }

    #[test]
    fn fake_k8s_openapi_index_and_documents_name_every_kind() {
        let api = api();
        let st = api.lock();
        let idx = index(&st);
        for gv in ["api/v1", "apis/apps/v1", "apis/example.com/v1"] {
            let url = idx["paths"][gv]["serverRelativeURL"].as_str().unwrap();
            assert!(url.starts_with(&format!("/openapi/v3/{gv}?hash=")), "{url}");
        }
        let doc = document(&st, "example.com", "v1").unwrap();
        let widget = &doc["components"]["schemas"]["com.example.v1.Widget"];
        assert_eq!(
            widget["x-kubernetes-group-version-kind"],
            json!([{"group": "example.com", "kind": "Widget", "version": "v1"}])
        );
        assert_eq!(
            widget["properties"]["spec"]["properties"]["size"]["type"],
            "integer"
        );
        let patch =
            &doc["paths"]["/apis/example.com/v1/namespaces/{namespace}/widgets/{name}"]["patch"];
        assert!(patch["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["name"] == "fieldValidation"));
        let core = document(&st, "", "v1").unwrap();
        assert_eq!(
            core["components"]["schemas"]["io.k8s.api.core.v1.ConfigMap"]
                ["x-kubernetes-group-version-kind"][0]["kind"],
            "ConfigMap"
        );
        assert!(document(&st, "nope.io", "v1").is_none());
    }

    #[test]
    fn fake_k8s_strict_validation_finds_undeclared_fields() {
        let api = api();
        let st = api.lock();
        let widget = st.def("example.com", "widgets").unwrap();
        let ok = json!({"apiVersion": "example.com/v1", "kind": "Widget",
                        "metadata": {"name": "w", "labels": {"a": "b"}}, "spec": {"size": 3},
                        "status": {"anything": [1, 2]}});
        assert_eq!(unknown_field(&st, &widget, "v1", &ok), None);
        let mut bad = ok.clone();
        bad["spec"]["colour"] = json!("red");
        assert_eq!(
            unknown_field(&st, &widget, "v1", &bad).as_deref(),
            Some("spec.colour")
        );
        let mut bad_meta = ok;
        bad_meta["metadata"]["labelz"] = json!({});
        assert_eq!(
            unknown_field(&st, &widget, "v1", &bad_meta).as_deref(),
            Some("metadata.labelz")
        );
        let deploy = st.def("apps", "deployments").unwrap();
        let d = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
                       "spec": {"selector": {}, "template": {"spec": {"containers": [
                           {"name": "c", "image": "i"}, {"name": "c2", "imagez": "i"}]}}}});
        assert_eq!(
            unknown_field(&st, &deploy, "v1", &d).as_deref(),
            Some("spec.template.spec.containers[1].imagez")
        );
    }
}

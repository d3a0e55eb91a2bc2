//! Patch formats: JSON merge patch (RFC 7386), JSON patch (RFC 6902), an approximation of
//! strategic merge patch, and the field-path sets used to approximate server-side apply.

use std::collections::BTreeSet;

use serde_json::{Map, Value};

/// RFC 7386 JSON merge patch.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    match patch {
        Value::Object(p) => {
            if !target.is_object() {
                *target = Value::Object(Map::new());
            }
            let t = target.as_object_mut().expect("made an object above");
            for (k, v) in p {
                if v.is_null() {
                    t.remove(k);
                } else {
                    merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
                }
            }
        }
        _ => *target = patch.clone(),
    }
}

/// The key lists of objects are merged by in a strategic merge patch (approximation of the
/// `patchMergeKey` tags of the built-in types): `name` (containers, env, ports, volumes...) or
/// `type` (conditions).
fn merge_key(cur: &[Value], patch: &[Value]) -> Option<&'static str> {
    ["name", "type", "uid"].into_iter().find(|k| {
        !patch.is_empty()
            && cur.iter().chain(patch.iter()).all(|e| {
                e.get(k).is_some_and(Value::is_string)
                    || e.get("$patch").is_some() && e.get(k).is_some()
            })
    })
}

fn strip_directives(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(k, _)| !k.starts_with('$'))
                .map(|(k, v)| (k.clone(), strip_directives(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(strip_directives).collect()),
        other => other.clone(),
    }
}

/// Strategic merge patch, approximated: a merge patch, except that lists of objects keyed by
/// `name`/`type`/`uid` are merged element by element (`$patch: delete` removes an element),
/// `$patch: replace` replaces a map, and other `$` directives are ignored.
pub fn strategic_merge_patch(target: &mut Value, patch: &Value) {
    match patch {
        Value::Object(p) => {
            if p.get("$patch").and_then(Value::as_str) == Some("replace") {
                *target = strip_directives(patch);
                return;
            }
            if !target.is_object() {
                *target = Value::Object(Map::new());
            }
            let t = target.as_object_mut().expect("made an object above");
            for (k, v) in p {
                if k.starts_with('$') {
                    continue;
                }
                if v.is_null() {
                    t.remove(k);
                    continue;
                }
                match (t.get_mut(k), v) {
                    (Some(Value::Array(cur)), Value::Array(items)) => match merge_key(cur, items) {
                        Some(key) => {
                            for item in items {
                                let id = item.get(key).cloned();
                                let pos = cur.iter().position(|e| e.get(key) == id.as_ref());
                                let delete =
                                    item.get("$patch").and_then(Value::as_str) == Some("delete");
                                match (pos, delete) {
                                    (Some(i), true) => {
                                        cur.remove(i);
                                    }
                                    (Some(i), false) => strategic_merge_patch(&mut cur[i], item),
                                    (None, true) => {}
                                    (None, false) => cur.push(strip_directives(item)),
                                }
                            }
                        }
                        None => *cur = items.iter().map(strip_directives).collect(),
                    },
                    (Some(cur), _) => strategic_merge_patch(cur, v),
                    (None, _) => {
                        t.insert(k.clone(), strip_directives(v));
                    }
                }
            }
        }
        _ => *target = strip_directives(patch),
    }
}

fn pointer_tokens(ptr: &str) -> Result<Vec<String>, String> {
    if ptr.is_empty() {
        return Ok(Vec::new());
    }
    let rest = ptr
        .strip_prefix('/')
        .ok_or_else(|| format!("invalid JSON pointer {ptr:?}"))?;
    Ok(rest
        .split('/')
        .map(|t| t.replace("~1", "/").replace("~0", "~"))
        .collect())
}

fn array_index(tok: &str, len: usize, allow_end: bool) -> Result<usize, String> {
    if allow_end && tok == "-" {
        return Ok(len);
    }
    let i: usize = tok
        .parse()
        .map_err(|_| format!("invalid array index {tok:?}"))?;
    let max = if allow_end {
        len
    } else {
        len.saturating_sub(1)
    };
    if i > max || (!allow_end && len == 0) {
        return Err(format!("array index {i} out of bounds"));
    }
    Ok(i)
}

fn walk_mut<'a>(doc: &'a mut Value, toks: &[String]) -> Result<&'a mut Value, String> {
    let mut cur = doc;
    for t in toks {
        cur = match cur {
            Value::Object(m) => m
                .get_mut(t)
                .ok_or_else(|| format!("path element {t:?} not found"))?,
            Value::Array(a) => {
                let i = array_index(t, a.len(), false)?;
                &mut a[i]
            }
            _ => return Err(format!("path element {t:?} not found")),
        };
    }
    Ok(cur)
}

fn json_get(doc: &Value, ptr: &str) -> Result<Value, String> {
    doc.pointer(ptr)
        .cloned()
        .ok_or_else(|| format!("path {ptr:?} not found"))
}

fn json_add(doc: &mut Value, ptr: &str, value: Value) -> Result<(), String> {
    let toks = pointer_tokens(ptr)?;
    let Some((last, parent)) = toks.split_last() else {
        *doc = value;
        return Ok(());
    };
    match walk_mut(doc, parent)? {
        Value::Object(m) => {
            m.insert(last.clone(), value);
        }
        Value::Array(a) => {
            let i = array_index(last, a.len(), true)?;
            a.insert(i, value);
        }
        _ => return Err(format!("cannot add at {ptr:?}: parent is not a container")),
    }
    Ok(())
}

fn json_remove(doc: &mut Value, ptr: &str) -> Result<Value, String> {
    let toks = pointer_tokens(ptr)?;
    let (last, parent) = toks
        .split_last()
        .ok_or("cannot remove the whole document")?;
    match walk_mut(doc, parent)? {
        Value::Object(m) => m
            .remove(last)
            .ok_or_else(|| format!("path {ptr:?} not found")),
        Value::Array(a) => {
            let i = array_index(last, a.len(), false)?;
            Ok(a.remove(i))
        }
        _ => Err(format!("path {ptr:?} not found")),
    }
}

/// RFC 6902 JSON patch (add, remove, replace, move, copy, test).
pub fn json_patch(doc: &mut Value, ops: &Value) -> Result<(), String> {
    let ops = ops
        .as_array()
        .ok_or("a JSON patch must be an array of operations")?;
    for op in ops {
        let name = op
            .get("op")
            .and_then(Value::as_str)
            .ok_or("operation without \"op\"")?;
        let path = op
            .get("path")
            .and_then(Value::as_str)
            .ok_or("operation without \"path\"")?;
        let value = || {
            op.get("value")
                .cloned()
                .ok_or_else(|| format!("{name} operation without \"value\""))
        };
        let from = || {
            op.get("from")
                .and_then(Value::as_str)
                .ok_or_else(|| format!("{name} operation without \"from\""))
        };
        match name {
            "add" => json_add(doc, path, value()?)?,
            "remove" => {
                json_remove(doc, path)?;
            }
            "replace" => {
                let v = value()?;
                *walk_mut(doc, &pointer_tokens(path)?)? = v;
            }
            "move" => {
                let v = json_remove(doc, from()?)?;
                json_add(doc, path, v)?;
            }
            "copy" => {
                let v = json_get(doc, from()?)?;
                json_add(doc, path, v)?;
            }
            "test" => {
                let want = value()?;
                let got = json_get(doc, path)?;
                if got != want {
                    return Err(format!(
                        "test operation failed at {path:?}: {got} != {want}"
                    ));
                }
            }
            other => return Err(format!("unsupported JSON patch operation {other:?}")),
        }
    }
    Ok(())
}

/// A field path (map keys from the root); lists are atomic leaves.
pub type FieldPath = Vec<String>;

/// The leaf field paths of an object as server-side apply would count them (approximated:
/// maps are descended, lists and scalars are leaves). Of `metadata` only labels, annotations,
/// finalizers and ownerReferences count; `apiVersion`/`kind` never.
pub fn leaf_paths(obj: &Value) -> BTreeSet<FieldPath> {
    fn walk(v: &Value, prefix: &mut Vec<String>, out: &mut BTreeSet<FieldPath>) {
        match v {
            Value::Object(m) if !m.is_empty() => {
                for (k, child) in m {
                    prefix.push(k.clone());
                    walk(child, prefix, out);
                    prefix.pop();
                }
            }
            _ => {
                out.insert(prefix.clone());
            }
        }
    }
    let mut out = BTreeSet::new();
    let Some(m) = obj.as_object() else { return out };
    for (k, v) in m {
        match k.as_str() {
            "apiVersion" | "kind" => {}
            "metadata" => {
                for mk in ["labels", "annotations", "finalizers", "ownerReferences"] {
                    if let Some(mv) = v.get(mk) {
                        walk(mv, &mut vec!["metadata".into(), mk.into()], &mut out);
                    }
                }
            }
            _ => walk(v, &mut vec![k.clone()], &mut out),
        }
    }
    out
}

pub fn get_path<'a>(v: &'a Value, path: &[String]) -> Option<&'a Value> {
    let mut cur = v;
    for p in path {
        cur = cur.get(p)?;
    }
    Some(cur)
}

/// Removes the field at `path` (if present).
pub fn remove_path(v: &mut Value, path: &[String]) {
    let Some((last, parent)) = path.split_last() else {
        return;
    };
    let mut cur = v;
    for p in parent {
        match cur.get_mut(p) {
            Some(next) => cur = next,
            None => return,
        }
    }
    if let Some(m) = cur.as_object_mut() {
        m.remove(last);
    }
}

/// True when one path is a prefix of the other (the fields overlap).
pub fn overlaps(a: &[String], b: &[String]) -> bool {
    let n = a.len().min(b.len());
    a[..n] == b[..n]
}

/// Renders a set of paths in the `FieldsV1` format (`{"f:spec":{"f:x":{}}}`).
pub fn fields_v1(paths: &BTreeSet<FieldPath>) -> Value {
    let mut root = Map::new();
    for p in paths {
        let mut cur = &mut root;
        for seg in p {
            cur = cur
                .entry(format!("f:{seg}"))
                .or_insert_with(|| Value::Object(Map::new()))
                .as_object_mut()
                .expect("only objects are inserted");
        }
    }
    Value::Object(root)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fake_k8s_merge_patch_rfc7386() {
        let mut t = json!({"a": "b", "c": {"d": "e", "f": "g"}, "l": [1, 2]});
        merge_patch(&mut t, &json!({"a": "z", "c": {"f": null}, "l": [3]}));
        assert_eq!(t, json!({"a": "z", "c": {"d": "e"}, "l": [3]}));
    }

    #[test]
    fn fake_k8s_strategic_merges_keyed_lists() {
        let mut t = json!({"status": {"conditions": [{"type": "A", "status": "True"}, {"type": "B", "status": "False"}]}});
        strategic_merge_patch(
            &mut t,
            &json!({"status": {"conditions": [{"type": "B", "status": "True"}, {"type": "C", "status": "True"}]}}),
        );
        assert_eq!(
            t["status"]["conditions"],
            json!([{"type": "A", "status": "True"}, {"type": "B", "status": "True"}, {"type": "C", "status": "True"}])
        );
        strategic_merge_patch(
            &mut t,
            &json!({"status": {"conditions": [{"type": "A", "$patch": "delete"}]}}),
        );
        assert_eq!(t["status"]["conditions"].as_array().unwrap().len(), 2);
    }

    #[test]
    fn fake_k8s_json_patch_rfc6902() {
        let mut d = json!({"a": {"b": [1, 2]}, "c": 1});
        json_patch(
            &mut d,
            &json!([
                {"op": "test", "path": "/c", "value": 1},
                {"op": "add", "path": "/a/b/-", "value": 3},
                {"op": "add", "path": "/a/b/0", "value": 0},
                {"op": "replace", "path": "/c", "value": 2},
                {"op": "remove", "path": "/a/b/1"},
                {"op": "add", "path": "/a~1x", "value": "slash"},
                {"op": "copy", "from": "/c", "path": "/d"},
                {"op": "move", "from": "/d", "path": "/e"}
            ]),
        )
        .unwrap();
        assert_eq!(
            d,
            json!({"a": {"b": [0, 2, 3]}, "c": 2, "a/x": "slash", "e": 2})
        );
        assert!(json_patch(&mut d, &json!([{"op": "test", "path": "/c", "value": 1}])).is_err());
        assert!(json_patch(&mut d, &json!([{"op": "remove", "path": "/nope"}])).is_err());
        assert!(json_patch(
            &mut d,
            &json!([{"op": "replace", "path": "/a/b/9", "value": 1}])
        )
        .is_err());
    }

    #[test]
    fn fake_k8s_leaf_paths_and_fields_v1() {
        let o = json!({"apiVersion": "v1", "kind": "X", "metadata": {"name": "n", "labels": {"a": "b"}}, "spec": {"x": 1, "l": [1], "e": {}}});
        let p = leaf_paths(&o);
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert!(p.contains(&s(&["metadata", "labels", "a"])));
        assert!(p.contains(&s(&["spec", "x"])));
        assert!(p.contains(&s(&["spec", "l"])));
        assert!(p.contains(&s(&["spec", "e"])));
        assert_eq!(p.len(), 4);
        assert_eq!(fields_v1(&p)["f:spec"]["f:x"], json!({}));
    }
}

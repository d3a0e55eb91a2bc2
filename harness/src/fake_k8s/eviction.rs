//! The taint manager's NoExecute eviction, reduced to what failover depends on: after a
//! write to a Node or a Pod, every pod bound to a node (`spec.nodeName`) that carries a
//! NoExecute taint the pod does not tolerate is deleted. `tolerationSeconds` is not
//! modelled (eviction is immediate), nor are NoSchedule effects on scheduling.

use std::borrow::Borrow;

use serde_json::Value;

use super::store::Store;

fn str_at<'a>(v: &'a Value, ptr: &str) -> &'a str {
    v.pointer(ptr).and_then(Value::as_str).unwrap_or("")
}

/// Whether `toleration` tolerates the NoExecute `taint` (Kubernetes matching rules:
/// empty key with `Exists` tolerates everything; effect empty matches every effect).
fn tolerates(toleration: &Value, taint: &Value) -> bool {
    let effect = str_at(toleration, "/effect");
    if !effect.is_empty() && effect != str_at(taint, "/effect") {
        return false;
    }
    let key = str_at(toleration, "/key");
    let op = match str_at(toleration, "/operator") {
        "" => "Equal",
        o => o,
    };
    if key.is_empty() {
        return op == "Exists";
    }
    if key != str_at(taint, "/key") {
        return false;
    }
    match op {
        "Exists" => true,
        "Equal" => str_at(toleration, "/value") == str_at(taint, "/value"),
        _ => false,
    }
}

/// (namespace, name) of the pods a NoExecute taint evicts now.
pub fn victims<V: Borrow<Value>>(nodes: &[V], pods: &[V]) -> Vec<(String, String)> {
    let mut out = vec![];
    for pod in pods.iter().map(V::borrow) {
        let node_name = str_at(pod, "/spec/nodeName");
        if node_name.is_empty() || pod.pointer("/metadata/deletionTimestamp").is_some() {
            continue;
        }
        let Some(node) = nodes
            .iter()
            .map(V::borrow)
            .find(|n| str_at(n, "/metadata/name") == node_name)
        else {
            continue;
        };
        let empty = vec![];
        let taints = node
            .pointer("/spec/taints")
            .and_then(Value::as_array)
            .unwrap_or(&empty);
        let tolerations = pod
            .pointer("/spec/tolerations")
            .and_then(Value::as_array)
            .unwrap_or(&empty);
        let evicted = taints
            .iter()
            .filter(|t| str_at(t, "/effect") == "NoExecute")
            .any(|t| !tolerations.iter().any(|tol| tolerates(tol, t)));
        if evicted {
            out.push((
                str_at(pod, "/metadata/namespace").to_string(),
                str_at(pod, "/metadata/name").to_string(),
            ));
        }
    }
    out
}

/// Deletes every pod a NoExecute taint evicts.
pub fn sweep(st: &mut Store) {
    let (Some(nodes_def), Some(pods_def)) = (st.def("", "nodes"), st.def("", "pods")) else {
        return;
    };
    let nodes = st.list(&nodes_def, None);
    let pods = st.list(&pods_def, None);
    for (ns, name) in victims(&nodes, &pods) {
        let _ = st.delete(&pods_def, &ns, &name, None, false);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fake_k8s_no_execute_evicts_only_intolerant_pods_on_tainted_nodes() {
        let taint =
            json!({"key": "shipstream.io/db-readonly-g", "value": "true", "effect": "NoExecute"});
        let nodes = vec![
            json!({"metadata": {"name": "n1"}, "spec": {"taints": [taint]}}),
            json!({"metadata": {"name": "n2"}, "spec": {"taints": [
                {"key": "other", "value": "x", "effect": "NoSchedule"}]}}),
        ];
        let pod = |name: &str, node: &str, tolerations: Value| {
            json!({"metadata": {"name": name, "namespace": "ns"},
                   "spec": {"nodeName": node, "tolerations": tolerations}})
        };
        let pods = vec![
            pod("plain", "n1", json!([])),
            pod(
                "exists",
                "n1",
                json!([{"key": "shipstream.io/db-readonly-g", "operator": "Exists", "effect": "NoExecute"}]),
            ),
            pod(
                "equal",
                "n1",
                json!([{"key": "shipstream.io/db-readonly-g", "value": "true"}]),
            ),
            pod(
                "wrong-value",
                "n1",
                json!([{"key": "shipstream.io/db-readonly-g", "value": "false"}]),
            ),
            pod(
                "other-group",
                "n1",
                json!([{"key": "shipstream.io/db-readonly-h", "operator": "Exists"}]),
            ),
            pod("wildcard", "n1", json!([{"operator": "Exists"}])),
            pod("on-n2", "n2", json!([])),
            pod("unscheduled", "", json!([])),
        ];
        let v: Vec<String> = victims(&nodes, &pods).into_iter().map(|(_, n)| n).collect();
        assert_eq!(v, ["plain", "wrong-value", "other-group"]);
    }
}

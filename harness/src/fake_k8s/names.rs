//! Object-name and label validation on create, as the real apiserver does it: a name the
//! fake accepted but a cluster refuses would hide a controller or plugin bug until it met
//! a real cluster.

use serde_json::Value;

use super::store::ResourceDef;
use super::ApiError;

const SUBDOMAIN_MSG: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const DNS1035_MSG: &str = "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')";
const LABEL_VALUE_MSG: &str = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";
const QUALIFIED_NAME_MSG: &str = "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";

/// Validates `name` (the final one, after generateName) and `metadata.labels` of a new
/// object of kind `def`.
pub fn validate_new(def: &ResourceDef, name: &str, body: &Value) -> Result<(), ApiError> {
    let mut problems = vec![];
    // Services (and Namespaces) are DNS-1035 / DNS-1123 labels; the rest are subdomains.
    let service = def.group.is_empty() && def.kind == "Service";
    if service {
        if name.len() > 63 {
            problems.push(format!(
                "metadata.name: Invalid value: \"{name}\": must be no more than 63 characters"
            ));
        }
        if !is_dns1035_label(name) {
            problems.push(format!(
                "metadata.name: Invalid value: \"{name}\": {DNS1035_MSG}"
            ));
        }
    } else {
        if name.len() > 253 {
            problems.push(format!(
                "metadata.name: Invalid value: \"{name}\": must be no more than 253 characters"
            ));
        }
        if !is_subdomain(name) {
            problems.push(format!(
                "metadata.name: Invalid value: \"{name}\": {SUBDOMAIN_MSG}"
            ));
        }
    }
    if let Some(labels) = body.pointer("/metadata/labels").and_then(Value::as_object) {
        for (key, value) in labels {
            let field = "metadata.labels";
            if let Err(why) = label_key(key) {
                problems.push(format!("{field}: Invalid value: \"{key}\": {why}"));
            }
            let value = value.as_str().unwrap_or_default();
            if value.len() > 63 {
                problems.push(format!(
                    "{field}: Invalid value: \"{value}\": must be no more than 63 characters"
                ));
            }
            if !is_label_value(value) {
                problems.push(format!(
                    "{field}: Invalid value: \"{value}\": {LABEL_VALUE_MSG}"
                ));
            }
        }
    }
    if problems.is_empty() {
        return Ok(());
    }
    Err(ApiError::invalid(format!(
        "{} \"{name}\" is invalid: {}",
        def.kind,
        problems.join(", ")
    )))
}

fn is_label_part(s: &str, first: fn(u8) -> bool, inner: fn(u8) -> bool) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && first(b[0])
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter().all(|c| inner(*c))
}

fn lower_alnum(c: u8) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit()
}

fn is_dns1123_label(s: &str) -> bool {
    s.len() <= 63
        && is_label_part(s, lower_alnum, |c| lower_alnum(c) || c == b'-')
        && !s.ends_with('-')
}

fn is_dns1035_label(s: &str) -> bool {
    is_label_part(
        s,
        |c| c.is_ascii_lowercase(),
        |c| lower_alnum(c) || c == b'-',
    ) && !s.ends_with('-')
}

fn is_subdomain(s: &str) -> bool {
    !s.is_empty() && s.split('.').all(is_dns1123_label)
}

fn is_label_value(s: &str) -> bool {
    s.is_empty() || is_qualified_name_part(s)
}

fn is_qualified_name_part(s: &str) -> bool {
    is_label_part(
        s,
        |c| c.is_ascii_alphanumeric(),
        |c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'),
    )
}

/// A label key: an optional DNS subdomain prefix and `/`, then a name part of at most 63.
fn label_key(key: &str) -> Result<(), String> {
    let (prefix, name) = match key.split_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, key),
    };
    if let Some(p) = prefix {
        if p.len() > 253 || !is_subdomain(p) {
            return Err(format!("prefix part {SUBDOMAIN_MSG}"));
        }
    }
    if name.len() > 63 {
        return Err("name part must be no more than 63 characters".into());
    }
    if !is_qualified_name_part(name) {
        return Err(QUALIFIED_NAME_MSG.into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_apiserver_rules() {
        assert!(is_subdomain("mysql-g1-a.internal"));
        assert!(!is_subdomain("Mysql"));
        assert!(!is_subdomain("a_b"));
        assert!(!is_subdomain("-a"));
        assert!(!is_subdomain(&"a".repeat(64)));
        assert!(is_dns1035_label("mysql-g1-a"));
        assert!(!is_dns1035_label("1mysql"));
        assert!(is_label_value(""));
        assert!(is_label_value("My_value.1"));
        assert!(!is_label_value("-x"));
        assert!(label_key("shipstream.io/db-readonly-g1").is_ok());
        assert!(label_key("app.kubernetes.io/name").is_ok());
        assert!(label_key("Bad Key").is_err());
        assert!(label_key(&"k".repeat(64)).is_err());
    }
}

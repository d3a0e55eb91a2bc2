//! The MySQL accounts every fake mysqld knows (the grants of the product's init script).
//!
//! Both transports check them at the handshake: a wrong password or an unknown user gets
//! error 1045, like a real server, instead of a session that should not exist.

use bloodraven::sql::SqlError;

/// `(user, password)` of every account. `root` is the sidecar's local user, `bloodraven` the
/// controller's, `repl` the replication user, `app` the workload's.
pub const ACCOUNTS: &[(&str, &str)] = &[
    ("root", "secret"),
    ("bloodraven", "secret"),
    ("repl", "repl"),
    ("app", "app"),
];

/// The stored password of `user`, if the account exists.
pub fn password_of(user: &str) -> Option<&'static str> {
    ACCOUNTS.iter().find(|(u, _)| *u == user).map(|(_, p)| *p)
}

/// MySQL's ER_ACCESS_DENIED_ERROR for `user` connecting from `host`.
pub fn access_denied(user: &str, host: &str, used_password: bool) -> SqlError {
    let yes_no = if used_password { "YES" } else { "NO" };
    SqlError::new(
        1045,
        format!("Access denied for user '{user}'@'{host}' (using password: {yes_no})"),
    )
}

/// Checks a clear-text password (the simulator's framed handshake).
pub fn check_plain(user: &str, host: &str, password: &str) -> Result<(), SqlError> {
    match password_of(user) {
        Some(p) if p == password => Ok(()),
        _ => Err(access_denied(user, host, !password.is_empty())),
    }
}

/// Checks a `mysql_native_password` response: SHA1(pw) XOR SHA1(salt + SHA1(SHA1(pw))).
pub fn check_native(user: &str, salt: &[u8], response: &[u8]) -> bool {
    let Some(password) = password_of(user) else {
        return false;
    };
    if password.is_empty() {
        return response.is_empty();
    }
    native_scramble(salt, password.as_bytes()).as_slice() == response
}

fn native_scramble(salt: &[u8], password: &[u8]) -> [u8; 20] {
    use sha1::{Digest, Sha1};
    let stage1: [u8; 20] = Sha1::digest(password).into();
    let stage2: [u8; 20] = Sha1::digest(stage1).into();
    let mut h = Sha1::new();
    h.update(salt);
    h.update(stage2);
    let mix: [u8; 20] = h.finalize().into();
    let mut out = [0u8; 20];
    for (o, (a, b)) in out.iter_mut().zip(stage1.iter().zip(mix.iter())) {
        *o = a ^ b;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_check_rejects_wrong_password_and_unknown_user() {
        assert!(check_plain("repl", "h", "repl").is_ok());
        let e = check_plain("repl", "h", "nope").unwrap_err();
        assert_eq!(e.code, 1045);
        assert_eq!(
            e.message,
            "Access denied for user 'repl'@'h' (using password: YES)"
        );
        assert_eq!(check_plain("mallory", "h", "").unwrap_err().code, 1045);
    }

    #[test]
    fn native_scramble_depends_on_salt_and_password() {
        let salt = b"01234567890123456789";
        let good = native_scramble(salt, b"secret");
        assert!(check_native("root", salt, &good));
        assert!(!check_native("root", b"98765432109876543210", &good));
        assert!(!check_native("repl", salt, &good));
        assert!(!check_native("nobody", salt, &good));
    }
}

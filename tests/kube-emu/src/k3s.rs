//! `k3s` shim (server / agent / etcd-snapshot).

/// The secret part of a k3s token: `K10<ca hash>::server:<secret>` → `<secret>`; a plain
/// token is its own secret.
pub fn token_secret(token: &str) -> String {
    let t = token.trim();
    if let Some(rest) = t.strip_prefix("K10")
        && let Some((_, cred)) = rest.split_once("::")
    {
        return cred.split_once(':').map(|(_, s)| s).unwrap_or(cred).to_string();
    }
    t.to_string()
}

pub fn main(_args: &[String]) -> i32 {
    eprintln!("k3s: not implemented yet");
    1
}

//! Secret-free copies of a request, for logs, plans and error reports.

use super::syntax::redact_url;
use super::*;
use serde_json::Value;

/// What replaces a secret.
pub const REDACTED: &str = "***";

/// `accessInfo` keys whose values are secrets (compared case-insensitively, ignoring `_`
/// and `-`); any key containing `password`, `secret`, `token` or `credential` is a secret
/// too.
const SECRET_KEYS: &[&str] = &[
    "password",
    "secret",
    "token",
    "applicationcredentialsecret",
    "privatekey",
    "key",
];

fn is_secret_key(k: &str) -> bool {
    let n: String = k
        .chars()
        .filter(|c| *c != '_' && *c != '-')
        .flat_map(char::to_lowercase)
        .collect();
    SECRET_KEYS.contains(&n.as_str())
        || ["password", "secret", "token", "credential", "privatekey"]
            .iter()
            .any(|s| n.contains(s))
}

fn redact_value(v: &mut Value) {
    match v {
        Value::Object(m) => {
            for (k, x) in m.iter_mut() {
                if is_secret_key(k) {
                    *x = Value::String(REDACTED.into());
                } else {
                    redact_value(x);
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(redact_value),
        _ => {}
    }
}

fn secret(s: &mut Option<String>) {
    if s.is_some() {
        *s = Some(REDACTED.into());
    }
}

impl InstantiateVnfRequest {
    /// A copy with every secret replaced by `"***"`: node, storage-server and registry
    /// passwords, credentials in proxy URLs (`http://***@host:port`), and the secret fields
    /// of `vimConnectionInfo[].accessInfo` / `interfaceInfo` / `extra` (password, secret,
    /// token, application credential secret, …; nested objects too). Secret-looking keys in
    /// the pass-through `additionalParams` are redacted the same way.
    pub fn redacted(&self) -> InstantiateVnfRequest {
        let mut r = self.clone();
        for vci in &mut r.vim_connection_info {
            for map in [
                &mut vci.access_info,
                &mut vci.interface_info,
                &mut vci.extra,
            ]
            .into_iter()
            .flatten()
            {
                for (k, v) in map.iter_mut() {
                    if is_secret_key(k) {
                        *v = Value::String(REDACTED.into());
                    } else {
                        redact_value(v);
                    }
                }
            }
        }
        if let Some(ap) = &mut r.additional_params {
            for (k, v) in ap.other.iter_mut() {
                if is_secret_key(k) {
                    *v = Value::String(REDACTED.into());
                } else {
                    redact_value(v);
                }
            }
            if let Some(k) = &mut ap.k8s_cluster_installation_param {
                secret(&mut k.master_node.password);
                secret(&mut k.worker_node.password);
                if let Some(ss) = &mut k.storage_server {
                    secret(&mut ss.password);
                }
                for reg in &mut k.private_registry_connection_info {
                    secret(&mut reg.password);
                }
                if let Some(p) = &mut k.proxy {
                    for u in [&mut p.http_proxy, &mut p.https_proxy]
                        .into_iter()
                        .flatten()
                    {
                        *u = redact_url(u);
                    }
                }
            }
        }
        r
    }
}

//! kubeconfig files in the layout kubeadm writes.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;

pub enum Cred<'a> {
    Cert { cert_pem: &'a str, key_pem: &'a str },
    Token(&'a str),
}

pub fn render(cluster: &str, server: &str, ca_pem: &str, user: &str, cred: Cred<'_>) -> String {
    let cred = match cred {
        Cred::Cert { cert_pem, key_pem } => format!(
            "    client-certificate-data: {}\n    client-key-data: {}\n",
            B64.encode(cert_pem),
            B64.encode(key_pem)
        ),
        Cred::Token(t) => format!("    token: {t}\n"),
    };
    format!(
        "apiVersion: v1\nclusters:\n- cluster:\n    certificate-authority-data: {ca}\n    server: {server}\n  name: {cluster}\ncontexts:\n- context:\n    cluster: {cluster}\n    user: {user}\n  name: {user}@{cluster}\ncurrent-context: {user}@{cluster}\nkind: Config\npreferences: {{}}\nusers:\n- name: {user}\n  user:\n{cred}",
        ca = B64.encode(ca_pem)
    )
}

/// Fields of a kubeconfig we need back: server URL, CA PEM, client cert/key PEM or token.
pub struct Parsed {
    pub server: String,
    pub ca_pem: String,
    pub cert_pem: Option<String>,
    pub key_pem: Option<String>,
    pub token: Option<String>,
}

pub fn parse(text: &str) -> anyhow::Result<Parsed> {
    let v: serde_json::Value = serde_saphyr::from_str(text)?;
    let cluster = &v["clusters"][0]["cluster"];
    let user = &v["users"][0]["user"];
    let dec = |x: &serde_json::Value| {
        x.as_str()
            .and_then(|s| B64.decode(s).ok())
            .map(|b| String::from_utf8_lossy(&b).into_owned())
    };
    Ok(Parsed {
        server: cluster["server"].as_str().unwrap_or("").to_string(),
        ca_pem: dec(&cluster["certificate-authority-data"]).unwrap_or_default(),
        cert_pem: dec(&user["client-certificate-data"]),
        key_pem: dec(&user["client-key-data"]),
        token: user["token"].as_str().map(String::from),
    })
}

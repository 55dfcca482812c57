//! Host key handling: OpenSSH public key lines, known_hosts entries.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ssh2::HostKeyType;

/// Parses `TYPE BASE64 [comment]` into (type, key blob). The blob must start with the
/// same type name (SSH wire format), as every OpenSSH public key does.
pub fn parse_public_key(line: &str) -> Option<(String, Vec<u8>)> {
    let mut it = line.split_whitespace();
    let kind = it.next()?;
    let blob = STANDARD.decode(it.next()?).ok()?;
    let len = u32::from_be_bytes(blob.get(0..4)?.try_into().ok()?) as usize;
    let name = blob.get(4..4usize.checked_add(len)?)?;
    (name == kind.as_bytes()).then(|| (kind.to_string(), blob))
}

/// The OpenSSH name of a host key type.
pub fn type_name(t: HostKeyType) -> &'static str {
    match t {
        HostKeyType::Rsa => "ssh-rsa",
        HostKeyType::Dss => "ssh-dss",
        HostKeyType::Ecdsa256 => "ecdsa-sha2-nistp256",
        HostKeyType::Ecdsa384 => "ecdsa-sha2-nistp384",
        HostKeyType::Ecdsa521 => "ecdsa-sha2-nistp521",
        HostKeyType::Ed25519 => "ssh-ed25519",
        HostKeyType::Unknown => "unknown",
    }
}

/// The known_hosts host field: `host` for port 22, `[host]:port` otherwise.
pub fn known_hosts_name(host: &str, port: u16) -> String {
    if port == 22 {
        host.to_string()
    } else {
        format!("[{host}]:{port}")
    }
}

/// A known_hosts line for a key.
pub fn known_hosts_line(host: &str, port: u16, t: HostKeyType, key: &[u8]) -> String {
    format!(
        "{} {} {}",
        known_hosts_name(host, port),
        type_name(t),
        STANDARD.encode(key)
    )
}

/// SHA256 fingerprint as OpenSSH prints it (`SHA256:…`, unpadded base64).
pub fn fingerprint(key: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    let d = Sha256::digest(key);
    format!(
        "SHA256:{}",
        base64::engine::general_purpose::STANDARD_NO_PAD.encode(d)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blob(kind: &str) -> Vec<u8> {
        let mut b = (kind.len() as u32).to_be_bytes().to_vec();
        b.extend_from_slice(kind.as_bytes());
        b.extend_from_slice(&[0, 0, 0, 1, 7]);
        b
    }

    #[test]
    fn parses_and_checks_type() {
        let line = format!(
            "ssh-ed25519 {} root@x",
            STANDARD.encode(blob("ssh-ed25519"))
        );
        let (k, b) = parse_public_key(&line).expect("parses");
        assert_eq!(k, "ssh-ed25519");
        assert_eq!(b, blob("ssh-ed25519"));
        let wrong = format!("ssh-rsa {}", STANDARD.encode(blob("ssh-ed25519")));
        assert!(parse_public_key(&wrong).is_none());
        assert!(parse_public_key("ssh-ed25519 !!!").is_none());
        assert!(parse_public_key("ssh-ed25519 AAAA").is_none());
        assert!(parse_public_key("").is_none());
    }

    #[test]
    fn known_hosts_names() {
        assert_eq!(known_hosts_name("10.0.0.1", 22), "10.0.0.1");
        assert_eq!(known_hosts_name("10.0.0.1", 2222), "[10.0.0.1]:2222");
        let l = known_hosts_line("h", 22, HostKeyType::Ed25519, &[1, 2, 3]);
        assert_eq!(l, "h ssh-ed25519 AQID");
    }
}

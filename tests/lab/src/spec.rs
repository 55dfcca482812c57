//! What a lab should look like: plain data, read from YAML/JSON or built in Rust.
//!
//! Only `hosts[].name` is required; everything else has a default:
//!
//! ```yaml
//! hosts:
//!   - name: m1
//!   - name: s1
//!     volumes:
//!       - id: 0b7e8e4c-3f0f-4c43-9d8e-2c0f6f1f0a11
//!         size: 64M
//! ```

use std::net::Ipv4Addr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Default login user on every host.
pub const DEFAULT_USER: &str = "ubuntu";

/// The whole lab.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LabSpec {
    /// Hosts to start, in order (IPs are given out in this order unless fixed).
    pub hosts: Vec<HostSpec>,
    /// Login user created on every host (default `ubuntu`).
    #[serde(default)]
    pub user: Option<String>,
    /// Password of that user (default: random per lab).
    #[serde(default)]
    pub password: Option<String>,
    /// Public keys (OpenSSH one-line format) authorized for the user and root on every host.
    #[serde(default)]
    pub authorized_keys: Vec<String>,
    /// Files, or directories whose regular files, are put into every host's
    /// `/opt/vnf-lab/bin` (first in PATH). Later entries win on name clashes.
    #[serde(default)]
    pub shim_dirs: Vec<PathBuf>,
}

/// One host ("VM").
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostSpec {
    /// Host name: also its hostname. `[a-z0-9-]`, 1..=40 characters, unique in the lab.
    pub name: String,
    /// Fixed address on the lab subnet (default: next free one).
    #[serde(default)]
    pub ip: Option<Ipv4Addr>,
    /// Volumes attached at boot, as `/dev/vdb`, `/dev/vdc`, ...
    #[serde(default)]
    pub volumes: Vec<VolumeSpec>,
    /// Extra files or directories for this host's `/opt/vnf-lab/bin` (after the lab-wide ones).
    #[serde(default)]
    pub shim_dirs: Vec<PathBuf>,
}

/// A Cinder-like volume: a sparse image on a loop device.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VolumeSpec {
    /// Volume id (a UUID in OpenStack). The host sees `/dev/disk/by-id/virtio-<first 20 chars>`.
    pub id: String,
    /// Size, e.g. `64M`, `1G`, or plain bytes. Default 64M.
    #[serde(default)]
    pub size: Option<String>,
}

impl LabSpec {
    /// Starts a builder.
    pub fn builder() -> LabSpecBuilder {
        LabSpecBuilder::default()
    }

    /// Parses YAML (JSON is YAML too).
    pub fn from_yaml(text: &str) -> Result<Self> {
        let spec: LabSpec =
            serde_saphyr::from_str(text).map_err(|e| Error::Spec(format!("cannot parse: {e}")))?;
        spec.validate()?;
        Ok(spec)
    }

    /// Reads and parses a YAML or JSON file.
    pub fn from_file(path: &std::path::Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::Io {
            what: format!("read spec {}", path.display()),
            source: e,
        })?;
        Self::from_yaml(&text)
    }

    /// Login user (default `ubuntu`).
    pub fn user(&self) -> &str {
        self.user.as_deref().unwrap_or(DEFAULT_USER)
    }

    /// Checks names, ids, sizes and addresses; every problem is a clear [`Error::Spec`].
    pub fn validate(&self) -> Result<()> {
        validate_name("user", self.user(), 32)?;
        if let Some(p) = &self.password
            && (p.is_empty() || p.contains(['\n', ':']))
        {
            return Err(Error::Spec(
                "password must be non-empty without ':' or newlines".into(),
            ));
        }
        for k in &self.authorized_keys {
            if k.trim().is_empty() || k.contains('\n') {
                return Err(Error::Spec(format!(
                    "authorized key must be one non-empty line: {k:?}"
                )));
            }
        }
        let mut names = std::collections::HashSet::new();
        let mut ips = std::collections::HashSet::new();
        let mut vols = std::collections::HashSet::new();
        for h in &self.hosts {
            h.validate()?;
            if !names.insert(h.name.as_str()) {
                return Err(Error::Spec(format!("duplicate host name {:?}", h.name)));
            }
            if let Some(ip) = h.ip
                && !ips.insert(ip)
            {
                return Err(Error::Spec(format!("duplicate host ip {ip}")));
            }
            for v in &h.volumes {
                if !vols.insert(v.id.as_str()) {
                    return Err(Error::Spec(format!("duplicate volume id {:?}", v.id)));
                }
            }
        }
        Ok(())
    }
}

impl HostSpec {
    /// A host with defaults.
    pub fn new(name: impl Into<String>) -> Self {
        HostSpec {
            name: name.into(),
            ..Default::default()
        }
    }

    /// Checks this host alone.
    pub fn validate(&self) -> Result<()> {
        validate_name("host name", &self.name, 40)?;
        for v in &self.volumes {
            v.validate()?;
        }
        Ok(())
    }
}

impl VolumeSpec {
    /// A volume of the given size (`"64M"`).
    pub fn new(id: impl Into<String>, size: impl Into<String>) -> Self {
        VolumeSpec {
            id: id.into(),
            size: Some(size.into()),
        }
    }

    /// Size in bytes.
    pub fn size_bytes(&self) -> Result<u64> {
        parse_size(self.size.as_deref().unwrap_or("64M"))
    }

    /// Checks id and size.
    pub fn validate(&self) -> Result<()> {
        if self.id.is_empty()
            || self.id.len() > 64
            || !self
                .id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(Error::Spec(format!(
                "volume id {:?} must be 1..=64 characters of [A-Za-z0-9_-]",
                self.id
            )));
        }
        let size = self.size_bytes()?;
        if size < 1 << 20 {
            return Err(Error::Spec(format!(
                "volume {} size must be at least 1M",
                self.id
            )));
        }
        Ok(())
    }

    /// The name under `/dev/disk/by-id/` (Nova/virtio truncates the serial to 20 characters).
    pub fn by_id_name(&self) -> String {
        by_id_name(&self.id)
    }
}

/// `virtio-<first 20 chars of id>`.
pub fn by_id_name(id: &str) -> String {
    let short: String = id.chars().take(20).collect();
    format!("virtio-{short}")
}

/// Parses `64M`, `1G`, `512K`, `1T`, `123` (bytes); binary units, optional `i`/`B` suffix.
pub fn parse_size(s: &str) -> Result<u64> {
    let t = s.trim();
    let bad = || Error::Spec(format!("bad size {s:?}: expected e.g. 64M, 1G or bytes"));
    let t = t.strip_suffix('B').unwrap_or(t);
    let t = t.strip_suffix('i').unwrap_or(t);
    let (num, mult) = match t.chars().last() {
        Some('K' | 'k') => (&t[..t.len() - 1], 1u64 << 10),
        Some('M' | 'm') => (&t[..t.len() - 1], 1 << 20),
        Some('G' | 'g') => (&t[..t.len() - 1], 1 << 30),
        Some('T' | 't') => (&t[..t.len() - 1], 1 << 40),
        Some(_) => (t, 1),
        None => return Err(bad()),
    };
    let n: u64 = num.trim().parse().map_err(|_| bad())?;
    n.checked_mul(mult).ok_or_else(bad)
}

fn validate_name(what: &str, name: &str, max: usize) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= max
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.starts_with('-');
    if ok {
        Ok(())
    } else {
        Err(Error::Spec(format!(
            "{what} {name:?} must be 1..={max} characters of [a-z0-9-], not starting with '-'"
        )))
    }
}

/// Builder for [`LabSpec`].
#[derive(Debug, Default, Clone)]
pub struct LabSpecBuilder {
    spec: LabSpec,
}

impl LabSpecBuilder {
    /// Adds a plain host.
    pub fn host(mut self, name: &str) -> Self {
        self.spec.hosts.push(HostSpec::new(name));
        self
    }

    /// Adds a host with one volume.
    pub fn host_with_volume(mut self, name: &str, volume_id: &str, size: &str) -> Self {
        let mut h = HostSpec::new(name);
        h.volumes.push(VolumeSpec::new(volume_id, size));
        self.spec.hosts.push(h);
        self
    }

    /// Adds a fully specified host.
    pub fn host_spec(mut self, host: HostSpec) -> Self {
        self.spec.hosts.push(host);
        self
    }

    /// Sets the login user.
    pub fn user(mut self, user: &str) -> Self {
        self.spec.user = Some(user.into());
        self
    }

    /// Sets the login password.
    pub fn password(mut self, password: &str) -> Self {
        self.spec.password = Some(password.into());
        self
    }

    /// Authorizes a public key (one OpenSSH line) on every host.
    pub fn authorized_key(mut self, key: &str) -> Self {
        self.spec.authorized_keys.push(key.trim().to_string());
        self
    }

    /// Adds a lab-wide shim file or directory for `/opt/vnf-lab/bin`.
    pub fn shim_dir(mut self, path: impl Into<PathBuf>) -> Self {
        self.spec.shim_dirs.push(path.into());
        self
    }

    /// Finishes (validation happens in [`crate::Lab::up`]).
    pub fn build(self) -> LabSpec {
        self.spec
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minimal_yaml_parses_with_defaults() {
        let s = LabSpec::from_yaml(
            "hosts: [{name: m1}, {name: s1, volumes: [{id: 0b7e8e4c-3f0f-4c43-9d8e-2c0f6f1f0a11, size: 64M}]}]",
        )
        .unwrap();
        assert_eq!(s.hosts.len(), 2);
        assert_eq!(s.user(), "ubuntu");
        assert_eq!(s.hosts[1].volumes[0].size_bytes().unwrap(), 64 << 20);
        assert_eq!(
            s.hosts[1].volumes[0].by_id_name(),
            "virtio-0b7e8e4c-3f0f-4c43-9"
        );
    }

    #[test]
    fn bad_input_is_a_clear_error() {
        for (yaml, needle) in [
            ("hosts: [{name: M1}]", "host name"),
            ("hosts: [{name: a}, {name: a}]", "duplicate host name"),
            (
                "hosts: [{name: a, volumes: [{id: x, size: lots}]}]",
                "bad size",
            ),
            ("hosts: [{name: a, colour: red}]", "cannot parse"),
            ("hosts: [{name: a, ip: 300.1.1.1}]", "cannot parse"),
            ("hosts: [{name: a, volumes: [{id: 'a/b'}]}]", "volume id"),
            ("hosts: 3", "cannot parse"),
        ] {
            let e = LabSpec::from_yaml(yaml).unwrap_err().to_string();
            assert!(e.contains(needle), "{yaml}: {e}");
        }
    }

    #[test]
    fn json_and_builder_agree() {
        let json = LabSpec::from_yaml(
            r#"{"hosts": [{"name": "m1"}, {"name": "s1", "ip": "198.18.3.20", "volumes": [{"id": "v-1", "size": "1G"}]}], "user": "cloud"}"#,
        )
        .unwrap();
        let mut s1 = HostSpec::new("s1");
        s1.ip = Some("198.18.3.20".parse().unwrap());
        s1.volumes.push(VolumeSpec::new("v-1", "1G"));
        let built = LabSpec::builder()
            .host("m1")
            .host_spec(s1)
            .user("cloud")
            .build();
        assert_eq!(json, built);
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("1G").unwrap(), 1 << 30);
        assert_eq!(parse_size("512KiB").unwrap(), 512 << 10);
        assert_eq!(parse_size("4096").unwrap(), 4096);
        assert!(parse_size("").is_err());
        assert!(parse_size("99999999999T").is_err());
    }
}

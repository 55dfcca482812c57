//! Static inventory: the topology for users without OpenStack, as a YAML file.
//!
//! ```yaml
//! format_version: 1                      # required, must be 1
//! cluster_endpoint: https://10.10.0.10:6443   # optional
//! cluster_vip: 10.10.0.100/24            # optional: control-plane VIP with its subnet's prefix (HA)
//! hosts:
//!   - name: storage1                     # unique; letters, digits, '.', '_', '-'
//!     role: storage                      # master | worker | storage
//!     ssh: 10.10.0.30                    # SSH address (IP or DNS name)
//!     ssh_port: 22                       # optional, default 22
//!     nic: 10.10.0.30                    # cluster NIC address (optional; default: ssh if an IP)
//!     resource_id: storage_server        # VDU / Heat resource name (optional)
//!     ports:                             # CP name -> fixed address (optional)
//!       storage_server_CP: 10.10.0.30
//!     volumes:                           # Heat volume resource name -> attachment (optional)
//!       storage_server_volume:
//!         cinder_id: 0b7e8e4c-3f0f-4c43-9d8e-2c0f6f1f0a11
//!         device: /dev/vdb               # optional fallback when the by-id link is absent
//!     host_keys:                         # optional pinned host keys (OpenSSH format)
//!       - ssh-ed25519 AAAAC3Nza... root@storage1
//! ```
//!
//! Unknown keys are errors. Every error names the file and the line/column (syntax) or
//! the JSON pointer of the offending value (e.g. `/hosts/1/nic`).

use crate::topology::{Node, Role, SshEndpoint, Topology, Volume};
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::path::{Path, PathBuf};

/// Error codes of this module.
pub mod codes {
    vnf_package::codes! {
        /// The inventory file cannot be read or is not valid YAML of the inventory shape.
        SYNTAX = "driver.inventory.syntax";
        /// An inventory value is invalid (duplicate name, bad address, bad volume id, …).
        INVALID = "driver.inventory.invalid";
    }
}

/// Why an inventory could not be loaded.
#[derive(Debug, thiserror::Error)]
#[error("{code}: inventory {}{}: {message}", file.display(), pointer.as_deref().map(|p| format!(" at {p}")).unwrap_or_default(), code = code.id)]
pub struct InventoryError {
    /// The stable code.
    pub code: vnf_package::Code,
    /// The file.
    pub file: PathBuf,
    /// JSON pointer to the value, for semantic errors.
    pub pointer: Option<String>,
    /// What is wrong (syntax errors carry line and column).
    pub message: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawInventory {
    format_version: u32,
    #[serde(default)]
    cluster_endpoint: Option<String>,
    #[serde(default)]
    cluster_vip: Option<String>,
    hosts: Vec<RawHost>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHost {
    name: String,
    role: Role,
    ssh: String,
    #[serde(default)]
    ssh_port: Option<u16>,
    #[serde(default)]
    nic: Option<String>,
    #[serde(default)]
    resource_id: Option<String>,
    #[serde(default)]
    ports: BTreeMap<String, String>,
    #[serde(default)]
    volumes: BTreeMap<String, RawVolume>,
    #[serde(default)]
    host_keys: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawVolume {
    cinder_id: String,
    #[serde(default)]
    device: Option<String>,
}

/// Reads and checks an inventory file.
pub fn load(path: &Path) -> Result<Topology, InventoryError> {
    let text = std::fs::read_to_string(path).map_err(|e| InventoryError {
        code: codes::SYNTAX,
        file: path.to_path_buf(),
        pointer: None,
        message: format!("cannot read: {e}"),
    })?;
    parse(&text, path)
}

/// Parses inventory text; `path` is only used in messages and as the topology source.
pub fn parse(text: &str, path: &Path) -> Result<Topology, InventoryError> {
    let opts = serde_saphyr::options! {
        strict_booleans: true,
        leading_zero_numbers_as_strings: true,
        underscored_numbers_as_strings: true,
    };
    let raw: RawInventory =
        serde_saphyr::from_str_with_options(text, opts).map_err(|e| InventoryError {
            code: codes::SYNTAX,
            file: path.to_path_buf(),
            pointer: None,
            message: e.to_string(),
        })?;
    let bad = |pointer: String, message: String| InventoryError {
        code: codes::INVALID,
        file: path.to_path_buf(),
        pointer: Some(pointer),
        message,
    };
    if raw.format_version != 1 {
        return Err(bad(
            "/format_version".into(),
            format!(
                "unsupported format_version {} (expected 1)",
                raw.format_version
            ),
        ));
    }
    if raw.hosts.is_empty() {
        return Err(bad("/hosts".into(), "no hosts".into()));
    }
    let mut names = BTreeSet::new();
    let mut nodes = Vec::with_capacity(raw.hosts.len());
    for (i, h) in raw.hosts.into_iter().enumerate() {
        let p = |field: &str| format!("/hosts/{i}/{field}");
        if !is_name(&h.name) {
            return Err(bad(
                p("name"),
                format!(
                    "invalid host name {:?} (letters, digits, '.', '_', '-')",
                    h.name
                ),
            ));
        }
        if !names.insert(h.name.clone()) {
            return Err(bad(p("name"), format!("duplicate host name {:?}", h.name)));
        }
        if !is_host(&h.ssh) {
            return Err(bad(p("ssh"), format!("invalid SSH address {:?}", h.ssh)));
        }
        if h.ssh_port == Some(0) {
            return Err(bad(p("ssh_port"), "port 0".into()));
        }
        let nic = match &h.nic {
            Some(n) => Some(
                n.parse::<IpAddr>()
                    .map_err(|_| bad(p("nic"), format!("not an IP address: {n:?}")))?,
            ),
            None => None,
        };
        let mut ports = BTreeMap::new();
        for (cp, addr) in &h.ports {
            let ip = addr.parse::<IpAddr>().map_err(|_| {
                bad(
                    format!("/hosts/{i}/ports/{}", escape_pointer(cp)),
                    format!("not an IP address: {addr:?}"),
                )
            })?;
            ports.insert(cp.clone(), ip);
        }
        let mut volumes = BTreeMap::new();
        for (res, v) in h.volumes {
            let vp = format!("/hosts/{i}/volumes/{}", escape_pointer(&res));
            if !is_volume_id(&v.cinder_id) {
                return Err(bad(
                    format!("{vp}/cinder_id"),
                    format!(
                        "invalid Cinder volume id {:?} (letters, digits and '-')",
                        v.cinder_id
                    ),
                ));
            }
            if let Some(d) = &v.device
                && !is_device(d)
            {
                return Err(bad(
                    format!("{vp}/device"),
                    format!("invalid device {d:?} (expected /dev/NAME)"),
                ));
            }
            volumes.insert(
                res,
                Volume {
                    cinder_id: v.cinder_id,
                    device: v.device,
                },
            );
        }
        for (k, key) in h.host_keys.iter().enumerate() {
            if crate::exec::hostkey::parse_public_key(key).is_none() {
                return Err(bad(
                    format!("/hosts/{i}/host_keys/{k}"),
                    "not an OpenSSH public key line (\"TYPE BASE64 [comment]\")".into(),
                ));
            }
        }
        nodes.push(Node {
            name: h.name,
            role: h.role,
            ssh: SshEndpoint {
                host: h.ssh,
                port: h.ssh_port.unwrap_or(22),
            },
            nic,
            resource_id: h.resource_id,
            ports,
            volumes,
            host_keys: h.host_keys,
            group_member: None,
        });
    }
    let cluster_vip = match &raw.cluster_vip {
        Some(v) => Some(
            v.parse::<crate::topology::ClusterVip>()
                .map_err(|m| bad("/cluster_vip".into(), m))?,
        ),
        None => None,
    };
    Ok(Topology {
        source: format!("inventory:{}", path.display()),
        cluster_endpoint: raw.cluster_endpoint,
        cluster_vip,
        nodes,
    })
}

fn escape_pointer(s: &str) -> String {
    s.replace('~', "~0").replace('/', "~1")
}

fn is_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

fn is_host(s: &str) -> bool {
    s.parse::<IpAddr>().is_ok()
        || (!s.is_empty()
            && s.len() <= 253
            && !s.starts_with('-')
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-')))
}

fn is_volume_id(s: &str) -> bool {
    !s.is_empty() && s.len() <= 64 && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

fn is_device(s: &str) -> bool {
    s.strip_prefix("/dev/").is_some_and(|rest| {
        !rest.is_empty()
            && !rest
                .split('/')
                .any(|c| c.is_empty() || c == "." || c == "..")
            && rest
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '_' | '-' | ':' | '.'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "\
format_version: 1
hosts:
  - name: s1
    role: storage
    ssh: 198.18.1.3
    ports: {storage_server_CP: 198.18.1.3}
    volumes:
      storage_server_volume: {cinder_id: 0b7e8e4c-3f0f-4c43-9d8e-2c0f6f1f0a11, device: /dev/vdb}
  - name: w1
    role: worker
    ssh: 198.18.1.4
    ssh_port: 2222
    nic: 10.10.0.4
";

    #[test]
    fn parses_the_documented_shape() {
        let t = parse(GOOD, Path::new("inv.yaml")).expect("valid inventory");
        assert_eq!(t.nodes.len(), 2);
        assert_eq!(t.nodes[0].role, Role::Storage);
        assert_eq!(
            t.nodes[0].volumes["storage_server_volume"]
                .device
                .as_deref(),
            Some("/dev/vdb")
        );
        assert_eq!(t.nodes[1].ssh.port, 2222);
        assert_eq!(t.nodes[1].service_address(), "10.10.0.4".parse().ok());
        assert_eq!(t.nodes[0].ssh.port, 22);
    }

    #[test]
    fn syntax_error_names_file_and_position() {
        let e = parse("format_version: 1\nhosts: [\n", Path::new("inv.yaml")).unwrap_err();
        assert_eq!(e.code.id, "driver.inventory.syntax");
        let msg = e.to_string();
        assert!(msg.contains("inv.yaml"), "{msg}");
        assert!(msg.contains("line"), "{msg}");
    }

    #[test]
    fn unknown_key_is_rejected() {
        let e = parse(&GOOD.replace("ssh_port", "sshport"), Path::new("i.yaml")).unwrap_err();
        assert_eq!(e.code.id, "driver.inventory.syntax");
        assert!(e.to_string().contains("sshport"), "{e}");
    }

    #[test]
    fn semantic_errors_carry_a_pointer() {
        for (from, to, pointer) in [
            ("name: w1", "name: s1", "/hosts/1/name"),
            ("nic: 10.10.0.4", "nic: ten", "/hosts/1/nic"),
            (
                "cinder_id: 0b7e",
                "cinder_id: x;rm",
                "/hosts/0/volumes/storage_server_volume/cinder_id",
            ),
            (
                "device: /dev/vdb",
                "device: /etc/passwd",
                "/hosts/0/volumes/storage_server_volume/device",
            ),
            (
                "{storage_server_CP: 198.18.1.3}",
                "{storage_server_CP: x}",
                "/hosts/0/ports/storage_server_CP",
            ),
            ("ssh: 198.18.1.4", "ssh: '-oProxyCommand=x'", "/hosts/1/ssh"),
            ("format_version: 1", "format_version: 2", "/format_version"),
        ] {
            let text = GOOD.replace(from, to);
            assert_ne!(text, GOOD, "{from}");
            let e = parse(&text, Path::new("i.yaml")).unwrap_err();
            assert_eq!(e.code.id, "driver.inventory.invalid", "{from}: {e}");
            assert_eq!(e.pointer.as_deref(), Some(pointer), "{from}: {e}");
        }
    }
}

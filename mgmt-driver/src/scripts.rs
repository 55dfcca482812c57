//! The remote scripts, embedded at build time from `mgmt-driver/scripts/`.

use sha2::{Digest, Sha256};

/// Remote directory (relative to the login user's home) the scripts are uploaded to.
pub const REMOTE_DIR: &str = ".vnf-mgmt/scripts";

/// Every embedded script: (file name, content).
pub const ALL: &[(&str, &str)] = &[
    ("lib.sh", include_str!("../scripts/lib.sh")),
    (
        "storage_volume.sh",
        include_str!("../scripts/storage_volume.sh"),
    ),
    ("nfs_server.sh", include_str!("../scripts/nfs_server.sh")),
    ("nfs_client.sh", include_str!("../scripts/nfs_client.sh")),
];

/// A script's content by file name.
pub fn get(name: &str) -> Option<&'static str> {
    ALL.iter().find(|(n, _)| *n == name).map(|(_, c)| *c)
}

/// SHA-256 (hex) of a script, if it exists.
pub fn sha256(name: &str) -> Option<String> {
    get(name).map(|c| hex::encode(Sha256::digest(c.as_bytes())))
}

/// Remote path of a script.
pub fn remote_path(name: &str) -> String {
    format!("{REMOTE_DIR}/{name}")
}

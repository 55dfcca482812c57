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
    ("k8s_node.sh", include_str!("../scripts/k8s_node.sh")),
    ("k8s_init.sh", include_str!("../scripts/k8s_init.sh")),
    (
        "k8s_join_info.sh",
        include_str!("../scripts/k8s_join_info.sh"),
    ),
    ("k8s_join.sh", include_str!("../scripts/k8s_join.sh")),
    ("k8s_reset.sh", include_str!("../scripts/k8s_reset.sh")),
    ("k8s_cni.sh", include_str!("../scripts/k8s_cni.sh")),
    ("k8s_lb.sh", include_str!("../scripts/k8s_lb.sh")),
    ("k8s_etcd.sh", include_str!("../scripts/k8s_etcd.sh")),
    ("k3s_server.sh", include_str!("../scripts/k3s_server.sh")),
    ("k3s_agent.sh", include_str!("../scripts/k3s_agent.sh")),
    (
        "k3s_join_info.sh",
        include_str!("../scripts/k3s_join_info.sh"),
    ),
    ("k8s_proxy.sh", include_str!("../scripts/k8s_proxy.sh")),
    (
        "k8s_registry.sh",
        include_str!("../scripts/k8s_registry.sh"),
    ),
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

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::io::Write;
    use std::process::{Command, Stdio};

    /// Writes every embedded script into a fresh directory (so `lib.sh` sits next to them).
    pub(crate) fn script_dir() -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("temp dir");
        for (name, content) in ALL {
            std::fs::write(dir.path().join(name), content).expect("write script");
        }
        dir
    }

    /// Runs `bash SCRIPT ARGS` with `stdin`; returns (exit code, stdout, stderr).
    pub(crate) fn run(
        dir: &tempfile::TempDir,
        name: &str,
        args: &[&str],
        stdin: &str,
    ) -> (i32, String, String) {
        let mut child = Command::new("bash")
            .arg(dir.path().join(name))
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn bash");
        if let Some(mut i) = child.stdin.take() {
            let _ = i.write_all(stdin.as_bytes());
        }
        let out = child.wait_with_output().expect("wait bash");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    #[test]
    fn every_script_parses() {
        let dir = script_dir();
        for (name, _) in ALL {
            let out = Command::new("bash")
                .arg("-n")
                .arg(dir.path().join(name))
                .output()
                .expect("bash -n");
            assert!(
                out.status.success(),
                "{name}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }

    #[test]
    fn get_and_sha256_cover_the_cluster_scripts() {
        for name in [
            "k8s_node.sh",
            "k8s_init.sh",
            "k8s_join_info.sh",
            "k8s_join.sh",
        ] {
            assert!(get(name).is_some(), "{name} not embedded");
            assert_eq!(sha256(name).map(|h| h.len()), Some(64), "{name}");
        }
        assert_eq!(remote_path("k8s_join.sh"), ".vnf-mgmt/scripts/k8s_join.sh");
    }

    #[test]
    fn cluster_scripts_use_pkgs_k8s_io_and_never_the_retired_repository() {
        let node = get("k8s_node.sh").unwrap_or_default();
        assert!(node.contains("https://pkgs.k8s.io/core:/stable:/"));
        for (name, content) in ALL {
            assert!(!content.contains("apt.kubernetes.io"), "{name}");
            assert!(!content.contains("packages.cloud.google.com"), "{name}");
        }
    }

    #[test]
    fn node_script_rejects_bad_arguments_before_touching_the_host() {
        let dir = script_dir();
        let (code, _, err) = run(&dir, "k8s_node.sh", &[], "");
        assert_eq!(code, 1);
        assert!(err.contains("usage: k8s_node.sh"), "{err}");
        let (code, _, err) = run(&dir, "k8s_node.sh", &["Master_0", "v1.31"], "");
        assert_eq!(code, 1);
        assert!(err.contains("invalid node name: Master_0"), "{err}");
        let (code, _, err) = run(&dir, "k8s_node.sh", &["master-0", "1.31"], "");
        assert_eq!(code, 1);
        assert!(err.contains("invalid Kubernetes minor release"), "{err}");
        let (code, _, err) = run(
            &dir,
            "k8s_node.sh",
            &["master-0", "v1.31", "10.0.0.1=w;rm -rf /"],
            "",
        );
        assert_eq!(code, 1);
        assert!(err.contains("invalid hosts entry"), "{err}");
    }

    #[test]
    fn init_script_rejects_bad_arguments() {
        let dir = script_dir();
        let ok = [
            "master-0",
            "10.0.0.10",
            "10.0.0.10:6443",
            "192.168.0.0/16",
            "10.96.0.0/12",
        ];
        let bad_values = [
            ("Master", "invalid node name"),
            ("ip!", "invalid advertise address"),
            ("no-port", "invalid control-plane endpoint"),
            ("10.0.0.0", "invalid pod CIDR"),
            ("x/y/z", "invalid service CIDR"),
        ];
        for (i, (bad, message)) in bad_values.iter().enumerate() {
            let mut args = ok;
            args[i] = bad;
            let (code, _, err) = run(&dir, "k8s_init.sh", &args, "");
            assert_eq!(code, 1, "{args:?}");
            assert!(err.contains(message), "{args:?}: {err}");
        }
    }

    #[test]
    fn join_script_takes_the_token_only_on_stdin() {
        let dir = script_dir();
        let args = ["worker-0", "10.0.0.10:6443"];
        // No secrets on stdin: refused before anything else, naming what is missing.
        let (code, out, err) = run(&dir, "k8s_join.sh", &args, "");
        assert_eq!(code, 1);
        assert!(err.contains("no valid token on stdin"), "{err}");
        assert!(out.is_empty());
        // A token but a malformed hash: refused, and the token is not echoed.
        let token = "abcdef.0123456789abcdef";
        let (code, out, err) = run(
            &dir,
            "k8s_join.sh",
            &args,
            &format!("token={token}\nca_cert_hash=sha256:xyz\n"),
        );
        assert_eq!(code, 1);
        assert!(err.contains("no valid ca_cert_hash on stdin"), "{err}");
        assert!(
            !err.contains(token) && !out.contains(token),
            "token leaked: {out}{err}"
        );
        // A token given as an argument is a usage error, not a join.
        let (code, _, err) = run(
            &dir,
            "k8s_join.sh",
            &["worker-0", "10.0.0.10:6443", token],
            "",
        );
        assert_eq!(code, 1);
        assert!(err.contains("usage: k8s_join.sh"), "{err}");
        // kubeadm gets the token from a 0600 config file, never from argv.
        let script = get("k8s_join.sh").unwrap_or_default();
        assert!(script.contains("kubeadm join --config \"$JOIN_CFG\""));
        assert!(!script.contains("--token"));
        assert!(script.contains("umask 077"));
    }
}

//! Reaching hosts the way the driver and a worker pod would: OpenSSH client, SFTP,
//! and the userspace NFS client (libnfs-utils) run from inside another host.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use crate::error::{Error, Result};
use crate::lab::{Auth, Lab};
use crate::sys;

/// A generated SSH key pair.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyPair {
    /// Private key file (mode 0600, no passphrase).
    pub private_key: PathBuf,
    /// Public key, one OpenSSH line.
    pub public_key: String,
}

/// Generates an ed25519 key pair at `dir/name` (+ `.pub`) with ssh-keygen.
pub fn generate_keypair(dir: &Path, name: &str) -> Result<KeyPair> {
    let private_key = dir.join(name);
    let _ = std::fs::remove_file(&private_key);
    let _ = std::fs::remove_file(private_key.with_extension("pub"));
    sys::run(
        "generate key pair",
        Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-C", "vnf-lab-test", "-f"])
            .arg(&private_key),
    )?;
    let public_key = std::fs::read_to_string(format!("{}.pub", private_key.display()))
        .map_err(Error::io("read public key"))?
        .trim()
        .to_string();
    Ok(KeyPair {
        private_key,
        public_key,
    })
}

impl Lab {
    /// Common OpenSSH options: pinned host keys from the lab's known_hosts, no user config.
    fn ssh_opts(&self, cmd: &mut Command, auth: Auth<'_>) {
        cmd.args(["-F", "/dev/null", "-o", "StrictHostKeyChecking=yes", "-o"])
            .arg(format!(
                "UserKnownHostsFile={}",
                self.known_hosts().display()
            ))
            .args([
                "-o",
                "GlobalKnownHostsFile=/dev/null",
                "-o",
                "ConnectTimeout=10",
                "-o",
                "LogLevel=ERROR",
            ])
            .stdin(Stdio::null());
        match auth {
            Auth::Password => {
                cmd.args([
                    "-o",
                    "PubkeyAuthentication=no",
                    "-o",
                    "PreferredAuthentications=password,keyboard-interactive",
                    "-o",
                    "NumberOfPasswordPrompts=1",
                ])
                .env("SSH_ASKPASS", self.state_dir().join("bin/askpass.sh"))
                .env("SSH_ASKPASS_REQUIRE", "force")
                .env("VNF_LAB_PASSWORD", self.password());
            }
            Auth::Key(key) => {
                cmd.arg("-i").arg(key).args([
                    "-o",
                    "IdentitiesOnly=yes",
                    "-o",
                    "PreferredAuthentications=publickey",
                    "-o",
                    "BatchMode=yes",
                ]);
            }
        }
    }

    /// An `ssh` command for `user@host` (append the remote command). Checks the route
    /// guard first.
    pub fn ssh_command(&self, host: &str, user: &str, auth: Auth<'_>) -> Result<Command> {
        let h = self.host(host)?;
        self.guard(h.ip)?;
        let mut cmd = Command::new("ssh");
        self.ssh_opts(&mut cmd, auth);
        cmd.arg("-p")
            .arg(h.ssh_port.to_string())
            .arg(format!("{user}@{}", h.ip))
            .arg("--");
        Ok(cmd)
    }

    /// Runs `remote` over SSH as the lab user; returns the output whatever the status.
    pub fn ssh(&self, host: &str, auth: Auth<'_>, remote: &str) -> Result<Output> {
        let mut cmd = self.ssh_command(host, self.user(), auth)?;
        cmd.arg(remote);
        cmd.output().map_err(Error::io("run ssh"))
    }

    /// Runs an `sftp -b` batch as the lab user; returns the output whatever the status.
    pub fn sftp(&self, host: &str, auth: Auth<'_>, batch: &str) -> Result<Output> {
        let h = self.host(host)?;
        self.guard(h.ip)?;
        let mut cmd = Command::new("sftp");
        self.ssh_opts(&mut cmd, auth);
        if matches!(auth, Auth::Password) {
            // sftp -b implies BatchMode=yes, which would forbid asking for the password.
            cmd.args(["-o", "BatchMode=no"]);
        }
        cmd.arg("-P")
            .arg(h.ssh_port.to_string())
            .args(["-b", "-"])
            .arg(format!("{}@{}", self.user(), h.ip))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().map_err(Error::io("spawn sftp"))?;
        if let Some(mut si) = child.stdin.take() {
            use std::io::Write;
            si.write_all(batch.as_bytes())
                .map_err(Error::io("write sftp batch"))?;
        }
        child.wait_with_output().map_err(Error::io("run sftp"))
    }

    fn nfs_url(
        &self,
        server: Ipv4Addr,
        export: &str,
        file: &str,
        uid: Option<u32>,
    ) -> Result<String> {
        self.guard(server)?;
        if !export.starts_with('/') || file.is_empty() || file.starts_with('/') {
            return Err(Error::Spec(format!(
                "NFS export must be absolute and file relative: {export:?} {file:?}"
            )));
        }
        let mut url = format!("nfs://{server}{}/{file}", export.trim_end_matches('/'));
        if let Some(uid) = uid {
            url.push_str(&format!("?uid={uid}&gid={uid}"));
        }
        Ok(url)
    }

    /// Reads `export/file` from NFS server `server` with `nfs-cat`, run inside `host` as a
    /// worker pod would (NFSv3, AUTH_SYS uid 0 unless `uid` is given).
    pub fn nfs_read_as(
        &self,
        host: &str,
        server: Ipv4Addr,
        export: &str,
        file: &str,
        uid: Option<u32>,
    ) -> Result<Vec<u8>> {
        let url = self.nfs_url(server, export, file, uid)?;
        let out = self.exec(host, &["nfs-cat", &url])?;
        let out = sys::check(
            &format!("nfs read {url} on {host}"),
            &Command::new("nfs-cat"),
            out,
        )?;
        Ok(out.stdout)
    }

    /// [`Lab::nfs_read_as`] as root.
    pub fn nfs_read(
        &self,
        host: &str,
        server: Ipv4Addr,
        export: &str,
        file: &str,
    ) -> Result<Vec<u8>> {
        self.nfs_read_as(host, server, export, file, None)
    }

    /// Writes `data` to `export/file` on NFS server `server` with `nfs-cp`, run inside `host`.
    pub fn nfs_write_as(
        &self,
        host: &str,
        server: Ipv4Addr,
        export: &str,
        file: &str,
        data: &[u8],
        uid: Option<u32>,
    ) -> Result<()> {
        let url = self.nfs_url(server, export, file, uid)?;
        let tmp = "/tmp/.vnf-lab-nfs-put";
        let out = self.exec_input(host, &["dd", &format!("of={tmp}"), "status=none"], data)?;
        sys::check("stage NFS upload", &Command::new("dd"), out)?;
        let out = self.exec(host, &["nfs-cp", tmp, &url])?;
        let _ = self.exec(host, &["rm", "-f", tmp]);
        sys::check(
            &format!("nfs write {url} on {host}"),
            &Command::new("nfs-cp"),
            out,
        )?;
        Ok(())
    }

    /// [`Lab::nfs_write_as`] as root.
    pub fn nfs_write(
        &self,
        host: &str,
        server: Ipv4Addr,
        export: &str,
        file: &str,
        data: &[u8],
    ) -> Result<()> {
        self.nfs_write_as(host, server, export, file, data, None)
    }

    /// Lists an NFS directory with `nfs-ls` from inside `host`.
    pub fn nfs_ls(&self, host: &str, server: Ipv4Addr, export: &str) -> Result<String> {
        self.guard(server)?;
        let url = format!("nfs://{server}{export}");
        let out = self.exec(host, &["nfs-ls", &url])?;
        let out = sys::check(
            &format!("nfs-ls {url} on {host}"),
            &Command::new("nfs-ls"),
            out,
        )?;
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }
}

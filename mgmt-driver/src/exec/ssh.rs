//! One SSH connection per host per operation (ssh2): host key verification,
//! authentication, commands with exit status, SFTP uploads.

use super::hostkey;
use crate::plan::{Credential, PlanHost};
use crate::secret::Secrets;
use sha2::{Digest, Sha256};
use ssh2::{CheckResult, KnownHostFileKind, MethodType, Session};
use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Host key preference: the same order every time, so the key a server presents is the
/// one recorded on first use.
const HOSTKEY_PREF: &str = "ssh-ed25519,ecdsa-sha2-nistp256,ecdsa-sha2-nistp384,ecdsa-sha2-nistp521,rsa-sha2-512,rsa-sha2-256,ssh-rsa";

/// How host keys are verified.
#[derive(Debug, Clone, Default)]
pub struct HostKeyPolicy {
    /// known_hosts file consulted when a host has no pinned keys.
    pub known_hosts: Option<PathBuf>,
    /// Accept an unknown key and append it to `known_hosts` (which must be given).
    pub trust_on_first_use: bool,
}

/// How the host key was trusted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trusted {
    /// Matched a pinned key.
    Pinned,
    /// Matched the known_hosts file.
    KnownHosts,
    /// Unknown before; recorded (the known_hosts line written).
    FirstUse(String),
}

/// Connection failures.
#[derive(Debug)]
pub enum ConnError {
    /// TCP connect, handshake or socket failure (retryable).
    Transport(String),
    /// The server rejected the credentials.
    Auth(String),
    /// The host key differs from the pinned / known one.
    HostKeyMismatch(String),
    /// The host key is not known and trust-on-first-use is off.
    HostKeyUnknown(String),
    /// Anything else (missing secret, unreadable known_hosts, sudo refused, …).
    Other(String),
    /// `sudo` refused.
    Sudo(String),
}

/// Output of a remote command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteOutput {
    /// Exit status.
    pub status: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error (kept for messages; not failure by itself).
    pub stderr: String,
}

/// Failures while running a command or uploading.
#[derive(Debug)]
pub enum RunError {
    /// The connection broke (retryable after reconnecting).
    Transport(String),
    /// No data within the step timeout, or the total deadline passed.
    Timeout,
    /// An SFTP failure that is not a transport error (permissions, …).
    Sftp(String),
}

fn transport_or_timeout(e: std::io::Error) -> RunError {
    if e.kind() == std::io::ErrorKind::TimedOut {
        RunError::Timeout
    } else {
        RunError::Transport(e.to_string())
    }
}

fn ssh_err(e: ssh2::Error) -> RunError {
    match e.code() {
        ssh2::ErrorCode::Session(-9) => RunError::Timeout,
        ssh2::ErrorCode::Session(_) => RunError::Transport(e.to_string()),
        ssh2::ErrorCode::SFTP(_) => RunError::Sftp(e.to_string()),
    }
}

/// An authenticated connection.
pub struct Conn {
    sess: Session,
    sudo_password: Option<crate::secret::Secret>,
    /// One SFTP channel for the connection's uploads and reads, opened on first use
    /// (each `Session::sftp` starts a new sftp-server process on the host).
    sftp: std::sync::Mutex<Option<ssh2::Sftp>>,
}

impl std::fmt::Debug for Conn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Conn")
    }
}

/// Connects, verifies the host key, authenticates and checks that sudo works.
pub fn connect(
    h: &PlanHost,
    secrets: &Secrets,
    policy: &HostKeyPolicy,
    key_base: Option<&Path>,
    timeout: Duration,
) -> Result<(Conn, Trusted), ConnError> {
    let addrs: Vec<_> = (h.address.as_str(), h.port)
        .to_socket_addrs()
        .map_err(|e| ConnError::Transport(format!("cannot resolve {}: {e}", h.address)))?
        .collect();
    let mut last = String::from("no address");
    let mut tcp = None;
    for a in addrs {
        match TcpStream::connect_timeout(&a, timeout) {
            Ok(s) => {
                tcp = Some(s);
                break;
            }
            Err(e) => last = format!("connect {a}: {e}"),
        }
    }
    let tcp = tcp.ok_or(ConnError::Transport(last))?;
    let mut sess = Session::new().map_err(|e| ConnError::Other(e.to_string()))?;
    sess.set_tcp_stream(tcp);
    sess.set_timeout(timeout.as_millis().min(u32::MAX as u128) as u32);
    sess.method_pref(MethodType::HostKey, HOSTKEY_PREF)
        .map_err(|e| ConnError::Other(e.to_string()))?;
    sess.handshake()
        .map_err(|e| ConnError::Transport(format!("SSH handshake: {e}")))?;

    let trusted = verify_host_key(&sess, h, policy)?;

    match &h.credential {
        Credential::PrivateKey { path } => {
            let p = Path::new(path);
            let p = match key_base {
                Some(base) if p.is_relative() => base.join(p),
                _ => p.to_path_buf(),
            };
            sess.userauth_pubkey_file(&h.user, None, &p, None)
                .map_err(|e| auth_error(e, &h.user, &format!("key {}", p.display())))?;
        }
        Credential::Password { secret } => {
            let pw = secrets
                .get(secret)
                .ok_or_else(|| ConnError::Other(format!("secret {secret} is not available")))?;
            sess.userauth_password(&h.user, pw.expose())
                .map_err(|e| auth_error(e, &h.user, "password"))?;
        }
    }
    if !sess.authenticated() {
        return Err(ConnError::Auth(format!(
            "server did not accept the credentials of {}",
            h.user
        )));
    }
    let sudo_password = match &h.sudo_password {
        Some(name) => Some(
            secrets
                .get(name)
                .cloned()
                .ok_or_else(|| ConnError::Other(format!("secret {name} is not available")))?,
        ),
        None => None,
    };
    let conn = Conn {
        sess,
        sudo_password,
        sftp: std::sync::Mutex::new(None),
    };
    let probe = conn
        .run_sudo_probe(timeout)
        .map_err(|e| ConnError::Transport(format!("sudo check: {e:?}")))?;
    if probe.status != 0 {
        return Err(ConnError::Sudo(format!(
            "sudo refused for {} (exit status {}): {}",
            h.user,
            probe.status,
            probe.stderr.trim()
        )));
    }
    Ok((conn, trusted))
}

fn auth_error(e: ssh2::Error, user: &str, how: &str) -> ConnError {
    match e.code() {
        // LIBSSH2_ERROR_AUTHENTICATION_FAILED, LIBSSH2_ERROR_PUBLICKEY_UNVERIFIED
        ssh2::ErrorCode::Session(-18) | ssh2::ErrorCode::Session(-19) => {
            ConnError::Auth(format!("authentication of {user} by {how} failed"))
        }
        ssh2::ErrorCode::Session(-16) => {
            ConnError::Other(format!("cannot use {how} for {user}: {}", e.message()))
        }
        _ => ConnError::Transport(format!("authentication of {user}: {e}")),
    }
}

fn verify_host_key(
    sess: &Session,
    h: &PlanHost,
    policy: &HostKeyPolicy,
) -> Result<Trusted, ConnError> {
    let (key, kind) = sess
        .host_key()
        .ok_or_else(|| ConnError::Transport("server sent no host key".into()))?;
    let fp = hostkey::fingerprint(key);
    let kname = hostkey::type_name(kind);
    if !h.host_keys.is_empty() {
        let matches = h
            .host_keys
            .iter()
            .filter_map(|l| hostkey::parse_public_key(l))
            .any(|(_, blob)| blob == key);
        return if matches {
            Ok(Trusted::Pinned)
        } else {
            Err(ConnError::HostKeyMismatch(format!(
                "{kname} host key {fp} of {}:{} is not one of the pinned keys",
                h.address, h.port
            )))
        };
    }
    let Some(file) = &policy.known_hosts else {
        return Err(ConnError::HostKeyUnknown(format!(
            "no pinned keys and no known_hosts file for {}:{} (presented {kname} {fp}); pass --known-hosts, or --trust-on-first-use with --known-hosts to record it",
            h.address, h.port
        )));
    };
    let mut kh = sess
        .known_hosts()
        .map_err(|e| ConnError::Other(e.to_string()))?;
    if file.exists() {
        kh.read_file(file, KnownHostFileKind::OpenSSH)
            .map_err(|e| ConnError::Other(format!("cannot read {}: {e}", file.display())))?;
    }
    match kh.check_port(&h.address, h.port, key) {
        CheckResult::Match => Ok(Trusted::KnownHosts),
        CheckResult::Mismatch => Err(ConnError::HostKeyMismatch(format!(
            "{kname} host key {fp} of {}:{} does not match {} — the host changed or someone is in between; refused",
            h.address,
            h.port,
            file.display()
        ))),
        CheckResult::NotFound if policy.trust_on_first_use => {
            let line = hostkey::known_hosts_line(&h.address, h.port, kind, key);
            let mut f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(file)
                .map_err(|e| ConnError::Other(format!("cannot write {}: {e}", file.display())))?;
            writeln!(f, "{line}")
                .map_err(|e| ConnError::Other(format!("cannot write {}: {e}", file.display())))?;
            Ok(Trusted::FirstUse(format!(
                "{kname} {fp} written to {}",
                file.display()
            )))
        }
        CheckResult::NotFound => Err(ConnError::HostKeyUnknown(format!(
            "{kname} host key {fp} of {}:{} is not in {} (use --trust-on-first-use to record it)",
            h.address,
            h.port,
            file.display()
        ))),
        CheckResult::Failure => Err(ConnError::Other(format!(
            "cannot check the host key of {} against {}",
            h.address,
            file.display()
        ))),
    }
}

/// Quotes one word for a POSIX shell (single quotes; `'` becomes `'\''`).
pub fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.chars().all(|c| {
            c.is_ascii_alphanumeric() || matches!(c, '/' | '.' | '_' | '-' | ':' | '=' | ',')
        })
    {
        return s.to_string();
    }
    format!("'{}'", s.replace('\'', r"'\''"))
}

impl Conn {
    /// The connection's SFTP channel (opened on first use) for `f`.
    fn with_sftp<R>(
        &self,
        f: impl FnOnce(&ssh2::Sftp) -> Result<R, RunError>,
    ) -> Result<R, RunError> {
        let mut guard = self.sftp.lock().unwrap_or_else(|e| e.into_inner());
        if guard.is_none() {
            *guard = Some(self.sess.sftp().map_err(ssh_err)?);
        }
        match guard.as_ref() {
            Some(sftp) => f(sftp),
            None => Err(ssh_err(ssh2::Error::unknown())),
        }
    }

    fn sudo_prefix(&self) -> &'static str {
        if self.sudo_password.is_some() {
            // Password on stdin, empty prompt; never in argv.
            "sudo -S -p '' --"
        } else {
            "sudo -n --"
        }
    }

    fn sudo_stdin(&self) -> Option<Vec<u8>> {
        self.sudo_password.as_ref().map(|p| {
            let mut v = p.expose().as_bytes().to_vec();
            v.push(b'\n');
            v
        })
    }

    fn run_sudo_probe(&self, timeout: Duration) -> Result<RemoteOutput, RunError> {
        let cmd = format!("{} true", self.sudo_prefix());
        self.run(&cmd, self.sudo_stdin().as_deref(), timeout)
    }

    /// Runs a script with bash, each argument one shell-quoted word; with `sudo`, as
    /// root (the password, if any, goes to sudo's stdin; the script's stdin is /dev/null).
    pub fn run_script(
        &self,
        script: &str,
        args: &[String],
        sudo: bool,
        timeout: Duration,
    ) -> Result<RemoteOutput, RunError> {
        let mut words = vec![shell_quote(script)];
        words.extend(args.iter().map(|a| shell_quote(a)));
        let argv = words.join(" ");
        if sudo {
            let cmd = format!(
                "cd && {} bash -c 'exec bash \"$0\" \"$@\" </dev/null' {argv}",
                self.sudo_prefix()
            );
            self.run(&cmd, self.sudo_stdin().as_deref(), timeout)
        } else {
            self.run(&format!("cd && bash {argv} </dev/null"), None, timeout)
        }
    }

    /// Like [`Conn::run_script`], with `input` as the script's stdin: uploaded by SFTP to
    /// `input_path` with mode 0600 and redirected from there (never in argv), removed
    /// after the run whatever its outcome.
    pub fn run_script_with_input(
        &self,
        script: &str,
        args: &[String],
        sudo: bool,
        input: &[u8],
        input_path: &str,
        timeout: Duration,
    ) -> Result<RemoteOutput, RunError> {
        self.upload(input_path, input, 0o600, timeout)?;
        let mut words = vec![shell_quote(script), shell_quote(input_path)];
        words.extend(args.iter().map(|a| shell_quote(a)));
        let argv = words.join(" ");
        let prefix = if sudo { self.sudo_prefix() } else { "" };
        let cmd = format!(
            "cd && {{ {prefix} bash -c 'exec bash \"$0\" \"${{@:2}}\" <\"$1\"' {argv}; rc=$?; rm -f -- {}; exit $rc; }}",
            shell_quote(input_path)
        );
        let stdin = if sudo { self.sudo_stdin() } else { None };
        let r = self.run(&cmd, stdin.as_deref(), timeout);
        let _ = self.with_sftp(|sftp| {
            let _ = sftp.unlink(Path::new(input_path));
            Ok(())
        });
        r
    }

    /// Runs a command line; success is judged by the caller from the exit status.
    /// `timeout` bounds the whole command: every blocking call gets only the time left.
    pub fn run(
        &self,
        cmd: &str,
        stdin: Option<&[u8]>,
        timeout: Duration,
    ) -> Result<RemoteOutput, RunError> {
        let deadline = Instant::now() + timeout;
        let arm = || -> Result<(), RunError> {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(RunError::Timeout);
            }
            self.sess
                .set_timeout(left.as_millis().clamp(1, u32::MAX as u128) as u32);
            Ok(())
        };
        arm()?;
        let mut ch = self.sess.channel_session().map_err(ssh_err)?;
        ch.exec(cmd).map_err(ssh_err)?;
        if let Some(input) = stdin {
            ch.write_all(input).map_err(transport_or_timeout)?;
        }
        ch.send_eof().map_err(ssh_err)?;
        let mut out = Vec::new();
        let mut buf = [0u8; 16 * 1024];
        loop {
            arm()?;
            match ch.read(&mut buf).map_err(transport_or_timeout)? {
                0 => break,
                n => out.extend_from_slice(&buf[..n]),
            }
        }
        let mut err = Vec::new();
        loop {
            arm()?;
            match ch.stderr().read(&mut buf).map_err(transport_or_timeout)? {
                0 => break,
                n => err.extend_from_slice(&buf[..n]),
            }
        }
        arm()?;
        ch.wait_close().map_err(ssh_err)?;
        let status = ch.exit_status().map_err(ssh_err)?;
        Ok(RemoteOutput {
            status,
            stdout: String::from_utf8_lossy(&out).into_owned(),
            stderr: String::from_utf8_lossy(&err).into_owned(),
        })
    }

    /// Reads a root-only file with sudo (`cat`); the content is returned, never logged.
    pub fn sudo_read(&self, path: &str, timeout: Duration) -> Result<RemoteOutput, RunError> {
        let cmd = format!("{} cat -- {}", self.sudo_prefix(), shell_quote(path));
        self.run(&cmd, self.sudo_stdin().as_deref(), timeout)
    }

    /// SHA-256 (hex) of a remote file, `None` when it does not exist or cannot be read.
    pub fn remote_sha256(&self, path: &str) -> Option<String> {
        self.with_sftp(|sftp| {
            let Ok(mut f) = sftp.open(Path::new(path)) else {
                return Ok(None);
            };
            let mut buf = Vec::new();
            if f.read_to_end(&mut buf).is_err() {
                return Ok(None);
            }
            Ok(Some(hex::encode(Sha256::digest(&buf))))
        })
        .ok()
        .flatten()
    }

    /// Uploads `data` to `path` (relative to the home directory unless absolute) with
    /// `mode`: parent directories created with 0700, a temporary file, then an atomic
    /// rename over the target.
    pub fn upload(
        &self,
        path: &str,
        data: &[u8],
        mode: u32,
        timeout: Duration,
    ) -> Result<(), RunError> {
        self.sess
            .set_timeout(timeout.as_millis().clamp(1, u32::MAX as u128) as u32);
        self.with_sftp(|sftp| Self::upload_with(sftp, path, data, mode))
    }

    fn upload_with(sftp: &ssh2::Sftp, path: &str, data: &[u8], mode: u32) -> Result<(), RunError> {
        let target = Path::new(path);
        let mut dir = PathBuf::new();
        if let Some(parent) = target.parent() {
            for c in parent.components() {
                dir.push(c);
                if dir.as_os_str().is_empty() || dir == Path::new("/") {
                    continue;
                }
                if sftp.stat(&dir).is_err() {
                    sftp.mkdir(&dir, 0o700).map_err(ssh_err)?;
                }
            }
        }
        let tmp = PathBuf::from(format!("{path}.vnf-mgmt-tmp"));
        {
            // Created with its final mode: a file of secrets is never readable by
            // others, not even before the setstat below.
            let _ = sftp.unlink(&tmp);
            let mut f = sftp
                .open_mode(
                    &tmp,
                    ssh2::OpenFlags::WRITE
                        | ssh2::OpenFlags::CREATE
                        | ssh2::OpenFlags::TRUNCATE
                        | ssh2::OpenFlags::EXCLUSIVE,
                    (mode & 0o777) as i32,
                    ssh2::OpenType::File,
                )
                .map_err(ssh_err)?;
            f.write_all(data).map_err(transport_or_timeout)?;
        }
        sftp.setstat(
            &tmp,
            ssh2::FileStat {
                size: None,
                uid: None,
                gid: None,
                perm: Some(mode),
                atime: None,
                mtime: None,
            },
        )
        .map_err(ssh_err)?;
        sftp.rename(
            &tmp,
            target,
            Some(
                ssh2::RenameFlags::OVERWRITE
                    | ssh2::RenameFlags::ATOMIC
                    | ssh2::RenameFlags::NATIVE,
            ),
        )
        .map_err(ssh_err)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::shell_quote;

    #[test]
    fn quoting() {
        assert_eq!(shell_quote("/volume/nfs"), "/volume/nfs");
        assert_eq!(shell_quote("10.0.0.0/24"), "10.0.0.0/24");
        assert_eq!(shell_quote(""), "''");
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's;rm"), r"'it'\''s;rm'");
        assert_eq!(shell_quote("$(x)"), "'$(x)'");
    }
}

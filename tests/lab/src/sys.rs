//! Small helpers around processes, /proc and command execution.

use std::path::Path;
use std::process::{Command, Output};

use crate::error::{Error, Result};

/// Start time of a process (clock ticks since boot, field 22 of /proc/PID/stat).
pub(crate) fn starttime(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    rest.split(' ').nth(19)?.parse().ok()
}

/// True while the process exists and is not a zombie.
pub(crate) fn alive(pid: u32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    match stat.rfind(')') {
        Some(i) => !stat[i + 2..].starts_with('Z'),
        None => false,
    }
}

/// "PID STARTTIME" record of a running process.
pub(crate) fn pid_record(pid: u32) -> String {
    format!("{pid} {}\n", starttime(pid).unwrap_or(0))
}

/// True if the process recorded as "PID STARTTIME" is still the same, live process.
pub(crate) fn record_alive(record: &str) -> bool {
    let mut it = record.split_whitespace();
    let (Some(pid), Some(start)) = (it.next(), it.next()) else {
        return false;
    };
    let (Ok(pid), Ok(start)) = (pid.parse::<u32>(), start.parse::<u64>()) else {
        return false;
    };
    alive(pid) && starttime(pid) == Some(start)
}

/// Renders a command for messages.
pub(crate) fn display(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for a in cmd.get_args() {
        s.push(' ');
        s.push_str(&a.to_string_lossy());
    }
    s
}

/// Runs a command to completion and fails unless it exits 0.
pub(crate) fn run(what: &str, cmd: &mut Command) -> Result<Output> {
    let out = cmd
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(Error::io(format!("{what}: spawn {}", display(cmd))))?;
    check(what, cmd, out)
}

/// Turns a non-zero exit into [`Error::Command`].
pub(crate) fn check(what: &str, cmd: &Command, out: Output) -> Result<Output> {
    if out.status.success() {
        Ok(out)
    } else {
        Err(Error::Command {
            what: what.to_string(),
            cmd: display(cmd),
            status: out.status.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        })
    }
}

/// Writes a file with the given mode.
pub(crate) fn write_file(path: &Path, data: &[u8], mode: u32) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, data).map_err(Error::io(format!("write {}", path.display())))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(Error::io(format!("chmod {}", path.display())))
}

/// Last `n` lines of a text file (for error messages).
pub(crate) fn tail(path: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Random hex string from /dev/urandom.
pub(crate) fn random_hex(bytes: usize) -> Result<String> {
    use std::io::Read;
    let mut buf = vec![0u8; bytes];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut buf))
        .map_err(Error::io("read /dev/urandom"))?;
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
}

/// Proportional set size (bytes) of one process, from /proc/PID/smaps_rollup.
pub(crate) fn pss_bytes(pid: u32) -> u64 {
    let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")) else {
        return 0;
    };
    text.lines()
        .find_map(|l| l.strip_prefix("Pss:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// All PIDs (outer view) whose pid namespace is the one of `pid`.
pub(crate) fn pids_in_pid_ns_of(pid: u32) -> Vec<u32> {
    let Ok(target) = std::fs::read_link(format!("/proc/{pid}/ns/pid")) else {
        return Vec::new();
    };
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|p| {
            std::fs::read_link(format!("/proc/{p}/ns/pid"))
                .ok()
                .as_ref()
                == Some(&target)
        })
        .collect()
}

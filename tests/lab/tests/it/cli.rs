//! The `vnf-lab` binary: up (detached), status, ssh, exec, down; exit codes.

use std::process::Command;

use vnf_lab::LabInfo;

use crate::teardown::leftovers;
use crate::util::{Scratch, ok};

const BIN: &str = env!("CARGO_BIN_EXE_vnf-lab");

/// A detached lab is the caller's to remove: make sure a failing test does.
struct Down(String);

impl Drop for Down {
    fn drop(&mut self) {
        let _ = Command::new(BIN).args(["down", "--lab", &self.0]).output();
    }
}

#[test]
fn up_status_ssh_exec_down() {
    let scratch = Scratch::new("cli");
    let spec = scratch.0.join("lab.yaml");
    std::fs::write(
        &spec,
        "hosts: [{name: m1}, {name: s1, volumes: [{id: 7f6e5d4c-3b2a-1908-f7e6-d5c4b3a29180, size: 64M}]}]\n",
    )
    .unwrap();
    let out = ok(Command::new(BIN)
        .args(["up", "--spec"])
        .arg(&spec)
        .output()
        .unwrap());
    let info: LabInfo = serde_json::from_str(&out).unwrap();
    let _down = Down(info.id.clone());
    let raw: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(raw["hosts"][0]["kubeconfig"], serde_json::Value::Null);
    assert_eq!(info.hosts.len(), 2);
    assert!(info.credentials_file.exists());
    let creds: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&info.credentials_file).unwrap()).unwrap();
    assert_eq!(
        creds["password"],
        serde_json::Value::String(info.hosts[0].password.clone())
    );

    // The CLI process is gone; the detached lab is not stale and survives a sweep.
    ok(Command::new(BIN)
        .args(["down", "--all-stale"])
        .output()
        .unwrap());
    let status: LabInfo = serde_json::from_str(&ok(Command::new(BIN)
        .args(["status", "--lab", &info.id])
        .output()
        .unwrap()))
    .unwrap();
    assert_eq!(status.id, info.id);
    let id = info.id.as_str();
    assert_eq!(
        ok(Command::new(BIN)
            .args(["ssh", "--lab", id, "m1", "hostname"])
            .output()
            .unwrap()),
        "m1\n"
    );
    assert_eq!(
        ok(Command::new(BIN)
            .args(["ssh", "--lab", id, "s1", "sudo", "-n", "id", "-u"])
            .output()
            .unwrap()),
        "0\n"
    );
    let dev = ok(Command::new(BIN)
        .args([
            "exec",
            "--lab",
            id,
            "s1",
            "readlink",
            "-f",
            "/dev/disk/by-id/virtio-7f6e5d4c-3b2a-1908-f",
        ])
        .output()
        .unwrap());
    assert_eq!(dev, "/dev/vdb\n");
    let failing = Command::new(BIN)
        .args(["exec", "--lab", id, "s1", "false"])
        .status()
        .unwrap();
    assert_eq!(failing.code(), Some(1));

    ok(Command::new(BIN)
        .args(["down", "--lab", id])
        .output()
        .unwrap());
    assert_eq!(leftovers(&info), Vec::<String>::new());
    // Idempotent from the user's view: a second down says the lab is gone.
    assert_eq!(
        Command::new(BIN)
            .args(["down", "--lab", id])
            .status()
            .unwrap()
            .code(),
        Some(1)
    );
}

#[test]
fn bad_input_gives_clear_errors_and_exit_codes() {
    let scratch = Scratch::new("cli-bad");
    let spec = scratch.0.join("bad.yaml");
    std::fs::write(
        &spec,
        "hosts: [{name: m1, volumes: [{id: v1, size: huge}]}]\n",
    )
    .unwrap();
    let out = Command::new(BIN)
        .args(["up", "--spec"])
        .arg(&spec)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with("vnf-lab: invalid lab spec: bad size \"huge\""),
        "{err}"
    );
    let out = Command::new(BIN).args(["up"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = Command::new(BIN)
        .args(["status", "--lab", "nope00"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
}

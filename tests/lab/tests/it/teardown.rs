//! Zero leftovers: after drop, panic, SIGTERM, SIGKILL (and a dead reaper + sweep).

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use vnf_lab::{Lab, LabInfo, LabSpec, state};

use crate::util::Scratch;

const BIN: &str = env!("CARGO_BIN_EXE_vnf-lab");

/// Everything the lab could leave behind; empty means clean.
pub(crate) fn leftovers(info: &LabInfo) -> Vec<String> {
    let mut found = Vec::new();
    if info.state_dir.exists() {
        found.push(format!("state dir {}", info.state_dir.display()));
    }
    let links = Command::new("ip")
        .args(["-o", "link", "show"])
        .output()
        .unwrap();
    for l in String::from_utf8_lossy(&links.stdout).lines() {
        if l.contains(&format!("vl{}-", info.id)) || l.contains(&info.bridge) {
            found.push(format!("link {l}"));
        }
    }
    let routes = Command::new("ip").args(["-4", "route"]).output().unwrap();
    let net = info.subnet.trim_end_matches(".0/24");
    for l in String::from_utf8_lossy(&routes.stdout).lines() {
        if l.contains(net) {
            found.push(format!("route {l}"));
        }
    }
    for e in std::fs::read_dir("/sys/block").unwrap().flatten() {
        if let Ok(b) = std::fs::read_to_string(e.path().join("loop/backing_file"))
            && b.contains(&info.id)
        {
            found.push(format!(
                "loop {} -> {}",
                e.file_name().to_string_lossy(),
                b.trim()
            ));
        }
    }
    let sd = info.state_dir.to_string_lossy().into_owned();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        if String::from_utf8_lossy(&cmd).contains(&sd) {
            found.push(format!(
                "process {pid}: {}",
                String::from_utf8_lossy(&cmd).replace('\0', " ")
            ));
        }
        if let Ok(mi) = std::fs::read_to_string(format!("/proc/{pid}/mountinfo"))
            && mi.contains(&sd)
        {
            found.push(format!("mount namespace of pid {pid} still mounts {sd}"));
        }
    }
    if Path::new(&format!("/run/vnf-lab/subnets/{net}"))
        .read_link()
        .is_ok_and(|t| t.to_string_lossy() == info.id)
    {
        found.push(format!("subnet claim {net}"));
    }
    found
}

/// Waits (bounded) until nothing is left, and returns what is left at the end.
fn wait_clean(info: &LabInfo) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let left = leftovers(info);
        if left.is_empty() || Instant::now() > deadline {
            return left;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Starts `vnf-lab up --hold` on a 3-host spec with a volume; returns it and the lab.
fn held_lab(scratch: &Scratch) -> (Child, LabInfo) {
    let spec = scratch.0.join("lab.yaml");
    std::fs::write(
        &spec,
        "hosts:\n  - name: m1\n  - name: w1\n  - name: s1\n    volumes: [{id: 3c9d7e1f-0a2b-4c5d-8e6f-7a8b9c0d1e2f, size: 32M}]\n",
    )
    .unwrap();
    let mut child = Command::new(BIN)
        .args(["up", "--hold", "--spec"])
        .arg(&spec)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut json = String::new();
    loop {
        let mut line = String::new();
        assert!(
            out.read_line(&mut line).unwrap() > 0,
            "vnf-lab up ended early: {json}"
        );
        json.push_str(&line);
        if line == "}\n" {
            break;
        }
    }
    let info: LabInfo = serde_json::from_str(&json).unwrap();
    // Make it busy: a mounted filesystem and a daemon inside a host.
    let pid1 = std::fs::read_to_string(info.state_dir.join("hosts/s1/pid1")).unwrap();
    let nsenter = |args: &[&str]| {
        let st = Command::new("nsenter")
            .args(["-t", pid1.trim(), "-m", "-u", "-n", "-p", "-r", "-w", "--"])
            .args(args)
            .status()
            .unwrap();
        assert!(st.success(), "{args:?}");
    };
    nsenter(&["mkfs.ext4", "-q", "/dev/vdb"]);
    nsenter(&["mkdir", "-p", "/volume"]);
    nsenter(&["mount", "/dev/vdb", "/volume"]);
    nsenter(&["rpcbind", "-w"]);
    assert!(
        !leftovers(&info).is_empty(),
        "the lab left no trace while running?"
    );
    (child, info)
}

fn signal(pid: u32, sig: &str) {
    assert!(
        Command::new("kill")
            .args([sig, &pid.to_string()])
            .status()
            .unwrap()
            .success()
    );
}

#[test]
fn sigkill_of_the_owner_leaves_nothing() {
    let scratch = Scratch::new("killed");
    let (mut child, info) = held_lab(&scratch);
    child.kill().unwrap(); // SIGKILL: no destructor, no handler runs in the owner.
    child.wait().unwrap();
    assert_eq!(wait_clean(&info), Vec::<String>::new());
}

#[test]
fn sigterm_of_the_owner_leaves_nothing() {
    let scratch = Scratch::new("termed");
    let (mut child, info) = held_lab(&scratch);
    signal(child.id(), "-TERM");
    child.wait().unwrap();
    assert_eq!(wait_clean(&info), Vec::<String>::new());
}

#[test]
fn owner_and_reaper_killed_then_swept() {
    let scratch = Scratch::new("swept");
    let (mut child, info) = held_lab(&scratch);
    let reaper = std::fs::read_to_string(info.state_dir.join("reaper")).unwrap();
    let reaper: u32 = reaper.split_whitespace().next().unwrap().parse().unwrap();
    signal(reaper, "-KILL");
    child.kill().unwrap();
    child.wait().unwrap();
    // Nobody tore it down: owner and reaper are gone. (A concurrent `Lab::up` elsewhere
    // may sweep it any moment from now on, which is the same mechanism under test.)
    assert!(
        info.state_dir.join("hosts/s1/pid1").exists(),
        "torn down without a sweep"
    );
    // Killed processes vanish asynchronously: wait (bounded) until the lab reads as stale.
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut seen = state::liveness(&info.id);
    while seen == state::Liveness::Owned && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
        seen = state::liveness(&info.id);
    }
    let out = Command::new(BIN)
        .args(["down", "--all-stale"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let left = wait_clean(&info);
    assert_eq!(
        left,
        Vec::<String>::new(),
        "liveness was {seen:?}; down said {out:?}"
    );
}

#[test]
fn drop_and_panic_leave_nothing() {
    let lab = Lab::up(
        LabSpec::builder()
            .host_with_volume("a", "0d1e2f3a-4b5c-6d7e-8f90-a1b2c3d4e5f6", "16M")
            .build(),
    )
    .unwrap();
    let info = lab.info();
    drop(lab);
    assert_eq!(leftovers(&info), Vec::<String>::new());

    let r = std::panic::catch_unwind(|| {
        let lab = Lab::up(LabSpec::builder().host("b").build()).unwrap();
        let info = lab.info();
        std::panic::panic_any(info);
    });
    let info = *r.unwrap_err().downcast::<LabInfo>().unwrap();
    assert_eq!(leftovers(&info), Vec::<String>::new());
}

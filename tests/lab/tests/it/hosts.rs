//! Hosts: SSH with password and key, SFTP, sudo, PATH, isolation.

use vnf_lab::{Auth, HOST_BIN_DIR, Lab, LabSpec, generate_keypair};

use crate::util::{Scratch, ok};

#[test]
fn ten_hosts_answer_ssh_with_pinned_keys() {
    let mut b = LabSpec::builder();
    for i in 0..10 {
        b = b.host(&format!("h{i}"));
    }
    let lab = Lab::up(b.build()).unwrap();
    let hosts = lab.hosts();
    assert_eq!(hosts.len(), 10);
    let mut ips = std::collections::BTreeSet::new();
    for h in &hosts {
        assert!(ips.insert(h.ip), "duplicate ip {}", h.ip);
        assert!(h.host_keys.ed25519.starts_with("ssh-ed25519 "));
        assert!(h.host_keys.ecdsa.starts_with("ecdsa-sha2-"));
        // The known_hosts pinning makes ssh fail if the wrong host answers.
        let out = ok(lab
            .ssh(
                &h.name,
                Auth::Password,
                "hostname; ip -4 -o addr show eth0; ip route",
            )
            .unwrap());
        assert!(out.starts_with(&format!("{}\n", h.name)), "{out}");
        assert!(out.contains(&format!("{}/24", h.ip)), "{out}");
        assert!(!out.contains("default"), "host has a default route: {out}");
    }
}

#[test]
fn password_key_sudo_sftp_and_path() {
    let scratch = Scratch::new("keys");
    let kp = generate_keypair(&scratch.0, "id_test").unwrap();
    let other = generate_keypair(&scratch.0, "id_other").unwrap();
    let spec = LabSpec::builder()
        .host("m1")
        .password("s3cret-pw")
        .authorized_key(&kp.public_key)
        .build();
    let lab = Lab::up(spec).unwrap();
    let h = lab.host("m1").unwrap();
    assert_eq!(h.user, "ubuntu");
    assert_eq!(h.password, "s3cret-pw");

    // Password login works, with the right password only.
    assert_eq!(
        ok(lab.ssh("m1", Auth::Password, "id -un").unwrap()).trim(),
        "ubuntu"
    );
    let mut bad = lab.ssh_command("m1", "ubuntu", Auth::Password).unwrap();
    bad.env("VNF_LAB_PASSWORD", "wrong").arg("true");
    assert!(
        !bad.output().unwrap().status.success(),
        "wrong password accepted"
    );

    // Key login: authorized key in, other key out; root by key too.
    assert_eq!(
        ok(lab.ssh("m1", Auth::Key(&kp.private_key), "id -un").unwrap()).trim(),
        "ubuntu"
    );
    assert!(
        !lab.ssh("m1", Auth::Key(&other.private_key), "true")
            .unwrap()
            .status
            .success()
    );
    let mut root = lab
        .ssh_command("m1", "root", Auth::Key(&kp.private_key))
        .unwrap();
    assert_eq!(ok(root.arg("id -u").output().unwrap()).trim(), "0");

    // NOPASSWD sudo, and the lab bin dir first in PATH for ssh, login shells and sudo.
    assert_eq!(
        ok(lab.ssh("m1", Auth::Password, "sudo -n id -u").unwrap()).trim(),
        "0"
    );
    let shim = scratch.0.join("vnf-lab-hello");
    std::fs::write(&shim, "#!/bin/sh\necho shim-ok\n").unwrap();
    std::fs::set_permissions(&shim, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    lab.add_shim(None, &shim).unwrap();
    for cmd in [
        "echo $PATH",
        "bash -lc 'echo $PATH'",
        "sudo -n sh -c 'echo $PATH'",
        "sudo -i sh -c 'echo $PATH'",
    ] {
        let path = ok(lab.ssh("m1", Auth::Password, cmd).unwrap());
        assert!(
            path.starts_with(&format!("{HOST_BIN_DIR}:")),
            "{cmd}: {path}"
        );
    }
    assert_eq!(
        ok(lab
            .ssh("m1", Auth::Password, "sudo -n vnf-lab-hello")
            .unwrap())
        .trim(),
        "shim-ok"
    );
    assert_eq!(
        lab.exec_ok("m1", &["vnf-lab-hello"]).unwrap().trim(),
        "shim-ok"
    );
    // A shim given as a symlink to a file under /tmp (private in every host) still runs:
    // the lab installs the file, not the link.
    let under_tmp = tempfile::tempdir_in("/tmp").unwrap();
    let target = under_tmp.path().join("real-hello");
    std::fs::write(&target, "#!/bin/sh\necho linked-shim-ok\n").unwrap();
    std::fs::set_permissions(&target, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let links = scratch.0.join("links");
    std::fs::create_dir_all(&links).unwrap();
    std::os::unix::fs::symlink(&target, links.join("vnf-lab-linked")).unwrap();
    lab.add_shim(None, &links).unwrap();
    assert_eq!(
        ok(lab.ssh("m1", Auth::Password, "vnf-lab-linked").unwrap()).trim(),
        "linked-shim-ok"
    );

    // SFTP: put, then read back over ssh and via exec.
    let local = scratch.0.join("up.txt");
    std::fs::write(&local, "sftp payload\n").unwrap();
    let out = lab
        .sftp(
            "m1",
            Auth::Password,
            &format!(
                "put {} /home/ubuntu/up.txt\nls -l /home/ubuntu\n",
                local.display()
            ),
        )
        .unwrap();
    ok(out);
    assert_eq!(
        lab.exec_ok("m1", &["cat", "/home/ubuntu/up.txt"]).unwrap(),
        "sftp payload\n"
    );
    // SFTP download by key, into the scratch dir (never the working directory).
    let got = scratch.0.join("hostname-from-m1");
    let out = lab.sftp(
        "m1",
        Auth::Key(&kp.private_key),
        &format!("get /etc/hostname {}\n", got.display()),
    );
    ok(out.unwrap());
    assert_eq!(std::fs::read_to_string(&got).unwrap(), "m1\n");
}

#[test]
fn host_behaves_like_an_offline_vm_without_systemd() {
    let lab = Lab::up(LabSpec::builder().host("m1").build()).unwrap();
    // The host is its own world: hostname, no systemd, `service` works, apt is offline.
    assert_eq!(lab.exec_ok("m1", &["hostname"]).unwrap().trim(), "m1");
    assert!(
        !lab.exec("m1", &["systemctl", "is-system-running"])
            .unwrap()
            .status
            .success()
    );
    assert!(
        lab.exec("m1", &["service", "--status-all"])
            .unwrap()
            .status
            .success()
    );
    assert!(
        lab.exec("m1", &["apt-get", "install", "-y", "openssh-server"])
            .unwrap()
            .status
            .success()
    );
    let new = lab
        .exec(
            "m1",
            &["apt-get", "install", "-y", "--no-install-recommends", "sl"],
        )
        .unwrap();
    assert!(
        !new.status.success(),
        "apt-get installed a new package without network"
    );
    let ps = lab.exec_ok("m1", &["ps", "-eo", "pid,comm"]).unwrap();
    assert!(ps.lines().any(|l| l.trim() == "1 sshd"), "{ps}");
}

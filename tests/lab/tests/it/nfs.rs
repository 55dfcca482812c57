//! NFS: the driver's /etc/exports + `exportfs -ra` become real ganesha exports.

use std::net::Ipv4Addr;

use vnf_lab::{Lab, LabSpec};

const VOL: &str = "9e0f3c1a-2b4d-4c6e-8f01-23456789abcd";

#[test]
fn exports_on_a_volume_are_served_with_client_rules() {
    let lab = Lab::up(
        LabSpec::builder()
            .host_with_volume("s1", VOL, "64M")
            .host("w1")
            .host("w2")
            .build(),
    )
    .unwrap();
    let s1 = lab.host("s1").unwrap().ip;
    let w1 = lab.host("w1").unwrap().ip;
    let (net, _) = lab.subnet();

    // What the driver does on the storage host, by ordinary commands.
    let dev = "/dev/disk/by-id/virtio-9e0f3c1a-2b4d-4c6e-8";
    lab.exec_ok("s1", &["mkfs.ext4", "-q", dev]).unwrap();
    lab.exec_ok("s1", &["mkdir", "-p", "/volume"]).unwrap();
    lab.exec_ok("s1", &["mount", dev, "/volume"]).unwrap();
    lab.exec_ok("s1", &["mkdir", "-p", "/volume/nfs/pv1", "/volume/shared"])
        .unwrap();
    lab.exec_ok("s1", &["chmod", "0777", "/volume/shared"])
        .unwrap();
    lab.exec_input(
        "s1",
        &["dd", "of=/volume/nfs/pv1/hello.txt", "status=none"],
        b"served by ganesha\n",
    )
    .unwrap();
    let exports = format!(
        "/volume/nfs {w1}(rw,sync,no_subtree_check,no_root_squash)\n/volume/shared {net}/24(rw,sync,no_subtree_check,root_squash)\n"
    );
    lab.exec_input(
        "s1",
        &["dd", "of=/etc/exports", "status=none"],
        exports.as_bytes(),
    )
    .unwrap();
    assert_eq!(
        lab.exec_ok("s1", &["sh", "-c", "command -v exportfs"])
            .unwrap()
            .trim(),
        "/opt/vnf-lab/bin/exportfs"
    );
    lab.exec_ok("s1", &["exportfs", "-ra"]).unwrap();

    // The real exportfs -v still tells the truth.
    let v = lab.exec_ok("s1", &["exportfs", "-v"]).unwrap();
    assert!(
        v.contains("/volume/nfs") && v.contains(&w1.to_string()) && v.contains("no_root_squash"),
        "{v}"
    );
    assert!(
        v.contains("/volume/shared") && v.contains(&format!("{net}/24")),
        "{v}"
    );

    // Read back from another host with the userspace client.
    assert_eq!(
        lab.nfs_read("w1", s1, "/volume/nfs", "pv1/hello.txt")
            .unwrap(),
        b"served by ganesha\n"
    );
    assert!(lab.nfs_ls("w1", s1, "/volume/nfs").unwrap().contains("pv1"));

    // Client restriction: w2 is not in /volume/nfs's client list.
    let denied = lab.nfs_read("w2", s1, "/volume/nfs", "pv1/hello.txt");
    assert!(denied.is_err(), "w2 read a w1-only export");

    // no_root_squash keeps root; root_squash maps root to nobody.
    lab.nfs_write("w1", s1, "/volume/nfs", "pv1/from-w1", b"w1\n")
        .unwrap();
    lab.nfs_write("w2", s1, "/volume/shared", "from-w2", b"w2\n")
        .unwrap();
    let owners = lab
        .exec_ok(
            "s1",
            &[
                "stat",
                "-c",
                "%n %u",
                "/volume/nfs/pv1/from-w1",
                "/volume/shared/from-w2",
            ],
        )
        .unwrap();
    assert_eq!(
        owners,
        "/volume/nfs/pv1/from-w1 0\n/volume/shared/from-w2 65534\n"
    );
    assert_eq!(
        lab.exec_ok("s1", &["cat", "/volume/shared/from-w2"])
            .unwrap(),
        "w2\n"
    );

    // Unexporting stops service.
    lab.exec_ok("s1", &["truncate", "-s", "0", "/etc/exports"])
        .unwrap();
    lab.exec_ok("s1", &["exportfs", "-ra"]).unwrap();
    assert_eq!(lab.exec_ok("s1", &["exportfs", "-v"]).unwrap().trim(), "");
    assert!(
        lab.nfs_read("w1", s1, "/volume/nfs", "pv1/hello.txt")
            .is_err()
    );

    // Bad arguments are errors, not traffic: addresses off the lab are refused.
    assert!(
        lab.nfs_read("w1", Ipv4Addr::new(192, 0, 2, 1), "/x", "y")
            .is_err()
    );
}

//! Volumes: loop devices visible only in their host, detach/re-attach keeps data.

use vnf_lab::{Error, HostSpec, Lab, LabSpec, VolumeSpec};

const VOL: &str = "5a1c0de2-7f3b-4e1a-9c55-1d2e3f405162";
const BY_ID: &str = "/dev/disk/by-id/virtio-5a1c0de2-7f3b-4e1a-9";

#[test]
fn volume_is_private_and_survives_reattach_and_host_death() {
    let lab = Lab::up(
        LabSpec::builder()
            .host_with_volume("s1", VOL, "64M")
            .host("s2")
            .build(),
    )
    .unwrap();

    // Only s1 sees it, as /dev/vdb and by id; s2 and the root namespace do not.
    assert_eq!(
        lab.exec_ok("s1", &["readlink", "-f", BY_ID])
            .unwrap()
            .trim(),
        "/dev/vdb"
    );
    assert_eq!(
        lab.exec_ok("s1", &["blockdev", "--getsize64", "/dev/vdb"])
            .unwrap()
            .trim(),
        (64u64 << 20).to_string()
    );
    assert!(
        !lab.exec("s2", &["test", "-e", BY_ID])
            .unwrap()
            .status
            .success()
    );
    assert!(
        !lab.exec("s2", &["test", "-e", "/dev/vdb"])
            .unwrap()
            .status
            .success()
    );
    assert_eq!(
        lab.exec_ok("s2", &["ls", "/dev/disk/by-id"])
            .unwrap()
            .trim(),
        ""
    );
    assert!(!std::path::Path::new("/dev/vdb").exists());

    // A real ext4, mounted inside s1 only.
    lab.exec_ok("s1", &["mkfs.ext4", "-q", "-L", "data", BY_ID])
        .unwrap();
    lab.exec_ok("s1", &["mkdir", "-p", "/volume"]).unwrap();
    lab.exec_ok("s1", &["mount", BY_ID, "/volume"]).unwrap();
    lab.exec_ok("s1", &["cp", "/etc/hostname", "/volume/written-by"])
        .unwrap();
    assert!(
        lab.exec_ok("s1", &["findmnt", "-no", "FSTYPE", "/volume"])
            .unwrap()
            .contains("ext4")
    );
    assert!(
        !lab.exec_ok("s2", &["cat", "/proc/mounts"])
            .unwrap()
            .contains("/volume")
    );
    let root_mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(
        !root_mounts.contains(lab.id()),
        "lab mount visible in the root namespace"
    );

    // Detaching a mounted volume is refused; after umount it works and the device goes.
    match lab.detach_volume(VOL) {
        Err(Error::Conflict(m)) => assert!(m.contains("mounted"), "{m}"),
        other => panic!("detach of a mounted volume: {other:?}"),
    }
    lab.exec_ok("s1", &["umount", "/volume"]).unwrap();
    lab.detach_volume(VOL).unwrap();
    assert!(
        !lab.exec("s1", &["test", "-e", BY_ID])
            .unwrap()
            .status
            .success()
    );
    assert!(
        !lab.exec("s1", &["test", "-e", "/dev/vdb"])
            .unwrap()
            .status
            .success()
    );

    // Re-attached to s2: same filesystem, same data.
    assert_eq!(lab.attach_volume(VOL, "s2").unwrap(), "/dev/vdb");
    lab.exec_ok("s2", &["mkdir", "-p", "/volume"]).unwrap();
    lab.exec_ok("s2", &["mount", BY_ID, "/volume"]).unwrap();
    assert_eq!(
        lab.exec_ok("s2", &["cat", "/volume/written-by"]).unwrap(),
        "s1\n"
    );
    assert_eq!(
        lab.exec_ok("s2", &["blkid", "-o", "value", "-s", "LABEL", "/dev/vdb"])
            .unwrap()
            .trim(),
        "data"
    );
    lab.exec_ok("s2", &["touch", "/volume/seen-by-s2"]).unwrap();

    // Heal: s2 dies with the volume mounted; a new host gets the volume and the files.
    lab.kill_host("s2").unwrap();
    assert!(lab.exec("s2", &["true"]).is_err());
    lab.detach_volume(VOL).unwrap();
    let mut s3 = HostSpec::new("s3");
    s3.ip = Some(lab.reserve_ip().unwrap());
    let s3 = lab.add_host(s3).unwrap();
    assert_eq!(lab.attach_volume(VOL, "s3").unwrap(), "/dev/vdb");
    lab.exec_ok("s3", &["mkdir", "-p", "/volume"]).unwrap();
    lab.exec_ok("s3", &["mount", "/dev/vdb", "/volume"])
        .unwrap();
    assert_eq!(
        lab.exec_ok("s3", &["ls", "/volume"]).unwrap(),
        "lost+found\nseen-by-s2\nwritten-by\n"
    );
    assert_eq!(lab.host_by_ip(s3.ip).unwrap().name, "s3");

    // Destroy: refused while attached, then the loop device and image are gone.
    assert!(matches!(lab.destroy_volume(VOL), Err(Error::Conflict(_))));
    lab.exec_ok("s3", &["umount", "/volume"]).unwrap();
    lab.detach_volume(VOL).unwrap();
    let info = lab.info();
    let loopdev = info.volumes[0].loop_device.clone();
    let image = info.volumes[0].image.clone();
    lab.destroy_volume(VOL).unwrap();
    assert!(!image.exists());
    let backing = std::fs::read_to_string(format!(
        "/sys/block/{}/loop/backing_file",
        loopdev.trim_start_matches("/dev/")
    ));
    assert!(
        backing.map_or(true, |b| !b.contains(lab.id())),
        "loop device still bound"
    );
    assert!(matches!(
        lab.attach_volume(VOL, "s3"),
        Err(Error::NotFound(_))
    ));

    // A removed host frees its name and address for a new host.
    let s2_ip = lab.info().hosts.iter().find(|h| h.name == "s2").unwrap().ip;
    lab.remove_host("s2").unwrap();
    assert!(matches!(lab.host("s2"), Err(Error::NotFound(_))));
    let mut again = HostSpec::new("s2");
    again.ip = Some(s2_ip);
    assert_eq!(lab.add_host(again).unwrap().ip, s2_ip);
    assert_eq!(lab.exec_ok("s2", &["hostname"]).unwrap(), "s2\n");

    // A fresh volume with the same id starts empty.
    lab.create_unattached_volume(VolumeSpec::new(VOL, "32M"))
        .unwrap();
    lab.attach_volume(VOL, "s3").unwrap();
    let out = lab.exec("s3", &["blkid", "/dev/vdb"]).unwrap();
    assert!(
        !out.status.success(),
        "new volume has a filesystem: {out:?}"
    );
}

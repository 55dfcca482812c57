//! Package-level tests of the archive layer: both layouts, zip-slip / absolute entries,
//! escaping symlinks, digest verification (images included), pack round trip.

use std::io::Write;
use std::path::Path;
use vnf_package::archive::{
    self, Algorithm, Limits, PackOptions, Package, codes, hash_bytes, pack, refresh_digests,
};
use vnf_package::{Report, Severity};

const VNFD: &str = "tosca_definitions_version: tosca_simple_yaml_1_2\n\
description: minimal VNFD used by archive tests\n";
const IMAGE: &[u8] = b"\x00\x01qcow2-ish image bytes\xff";
const SCRIPT: &str = "#!/bin/sh\necho hello\n";

fn sha256(b: &[u8]) -> String {
    hash_bytes(b, Algorithm::Sha256)
}

fn meta_text(script_hash: &str) -> String {
    format!(
        "TOSCA-Meta-File-Version: 1.0\n\
CSAR-Version: 1.1\n\
Created-By: vnf-mgmt tests\n\
Entry-Definitions: Definitions/top.vnfd.yaml\n\
ETSI-Entry-Manifest: vnf.mf\n\
\n\
Name: Scripts/install.sh\n\
Content-Type: application/sh\n\
Algorithm: SHA-256\n\
Hash: {script_hash}\n"
    )
}

fn manifest_text(vnfd: &str, image: &str, script: &str) -> String {
    format!(
        "metadata:\n  vnf_provider_id: Company\n  vnf_product_name: Sample VNF\n  vnf_release_date_time: 2021-01-01T10:00:00+08:00\n  vnf_package_version: 1.0\n\
\n\
Source: Definitions/top.vnfd.yaml\nAlgorithm: SHA-256\nHash: {vnfd}\n\
\n\
Source: Files/images/cirros.img\nAlgorithm: sha-512\nHash: {image}\n\
\n\
Source: Scripts/install.sh\nAlgorithm: SHA-256\nHash: {script}\n"
    )
}

fn write(root: &Path, rel: &str, bytes: &[u8]) {
    let p = root.join(rel);
    if let Some(parent) = p.parent() {
        std::fs::create_dir_all(parent).expect("mkdir");
    }
    std::fs::write(p, bytes).expect("write");
}

/// A valid TOSCA-Metadata layout package with correct digests.
fn valid_dir(root: &Path) {
    write(root, "Definitions/top.vnfd.yaml", VNFD.as_bytes());
    write(root, "Files/images/cirros.img", IMAGE);
    write(root, "Scripts/install.sh", SCRIPT.as_bytes());
    write(
        root,
        "TOSCA-Metadata/TOSCA.meta",
        meta_text(&sha256(SCRIPT.as_bytes())).as_bytes(),
    );
    write(
        root,
        "vnf.mf",
        manifest_text(
            &sha256(VNFD.as_bytes()),
            &hash_bytes(IMAGE, Algorithm::Sha512),
            &sha256(SCRIPT.as_bytes()),
        )
        .as_bytes(),
    );
}

fn open(path: &Path) -> (Package, Report) {
    let mut r = Report::new();
    let p = Package::open(path, &mut r).expect("package path is readable");
    (p, r)
}

fn errors(r: &Report) -> Vec<String> {
    r.findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .map(|f| f.to_string())
        .collect()
}

/// Builds a zip from (name, contents) pairs with the `zip` writer, names taken verbatim.
fn make_zip(path: &Path, entries: &[(&str, &[u8])]) {
    let f = std::fs::File::create(path).expect("create zip");
    let mut zw = zip::ZipWriter::new(f);
    let opts = zip::write::SimpleFileOptions::default();
    for (name, data) in entries {
        zw.start_file(*name, opts).expect("start entry");
        zw.write_all(data).expect("write entry");
    }
    zw.finish().expect("finish zip");
}

fn dir_entries(root: &Path) -> Vec<(String, Vec<u8>)> {
    let mut r = Report::new();
    let p = Package::open(root, &mut r).expect("open");
    p.files()
        .into_iter()
        .map(|f| {
            let b = p.read(&f).expect("read");
            (f, b)
        })
        .collect()
}

#[test]
fn valid_directory_package_with_tosca_meta() {
    let t = tempfile::tempdir().expect("tempdir");
    valid_dir(t.path());
    let (p, mut r) = open(t.path());
    assert!(errors(&r).is_empty(), "{:?}", r.findings);
    assert_eq!(p.entry_definitions(), Some("Definitions/top.vnfd.yaml"));
    assert_eq!(p.manifest_path(), Some("vnf.mf"));
    assert!(p.tosca_meta().is_some());
    assert_eq!(
        p.files(),
        vec![
            "Definitions/top.vnfd.yaml",
            "Files/images/cirros.img",
            "Scripts/install.sh",
            "TOSCA-Metadata/TOSCA.meta",
            "vnf.mf"
        ]
    );
    assert!(!r.contains(codes::UNLISTED_FILE));
    p.verify_digests(&mut r);
    assert!(errors(&r).is_empty(), "{:?}", r.findings);
    assert_eq!(p.read_text("Scripts/install.sh").expect("text"), SCRIPT);
    assert!(matches!(
        p.read("../etc/passwd"),
        Err(archive::Error::NotFound(_))
    ));
}

#[test]
fn layout_without_tosca_metadata() {
    let t = tempfile::tempdir().expect("tempdir");
    let root = t.path();
    write(root, "vnfd.yaml", VNFD.as_bytes());
    write(root, "Files/a.txt", b"a");
    let mf = format!(
        "metadata:\n  vnf_provider_id: C\n  vnf_product_name: P\n  vnf_release_date_time: 2021-01-01T00:00:00Z\n  vnf_package_version: 1\n\nSource: vnfd.yaml\nAlgorithm: SHA-256\nHash: {}\n",
        sha256(VNFD.as_bytes())
    );
    write(root, "vnfd.mf", mf.as_bytes());
    let (p, mut r) = open(root);
    assert!(errors(&r).is_empty(), "{:?}", r.findings);
    assert_eq!(p.entry_definitions(), Some("vnfd.yaml"));
    assert_eq!(p.manifest_path(), Some("vnfd.mf"));
    // Files/a.txt is not listed in the manifest.
    let unlisted: Vec<_> = r
        .findings
        .iter()
        .filter(|f| f.code == codes::UNLISTED_FILE)
        .map(|f| f.location.file.clone())
        .collect();
    assert_eq!(unlisted, vec![Some("Files/a.txt".to_string())]);
    p.verify_digests(&mut r);
    assert!(errors(&r).is_empty());

    // A differently named manifest is an error; two root YAMLs are ambiguous.
    std::fs::rename(root.join("vnfd.mf"), root.join("other.mf")).expect("rename");
    let (_, r) = open(root);
    assert!(r.contains(codes::MANIFEST_NAME_MISMATCH));
    write(root, "second.yaml", b"x: 1\n");
    let (p, r) = open(root);
    assert!(r.contains(codes::AMBIGUOUS_ENTRY_DEFINITIONS));
    assert_eq!(p.entry_definitions(), None);
}

#[test]
fn zip_package_matches_directory_package() {
    let t = tempfile::tempdir().expect("tempdir");
    let dir = t.path().join("pkg");
    valid_dir(&dir);
    let entries = dir_entries(&dir);
    let zpath = t.path().join("pkg.zip");
    let refs: Vec<(&str, &[u8])> = entries
        .iter()
        .map(|(n, b)| (n.as_str(), b.as_slice()))
        .collect();
    make_zip(&zpath, &refs);
    let (p, mut r) = open(&zpath);
    assert!(p.is_zip());
    assert!(errors(&r).is_empty(), "{:?}", r.findings);
    assert_eq!(p.entry_definitions(), Some("Definitions/top.vnfd.yaml"));
    p.verify_digests(&mut r);
    assert!(errors(&r).is_empty(), "{:?}", r.findings);
    assert_eq!(p.read("Files/images/cirros.img").expect("read"), IMAGE);
}

#[test]
fn zip_slip_entry_is_rejected_and_unreachable() {
    let t = tempfile::tempdir().expect("tempdir");
    let z = t.path().join("evil.csar");
    make_zip(
        &z,
        &[
            ("vnfd.yaml", VNFD.as_bytes()),
            ("../evil", b"owned"),
            ("Files/../../evil2", b"owned"),
        ],
    );
    let (p, r) = open(&z);
    let slips: Vec<_> = r
        .findings
        .iter()
        .filter(|f| f.code == codes::UNSAFE_PATH)
        .map(|f| f.location.file.clone().unwrap_or_default())
        .collect();
    assert_eq!(slips, vec!["../evil", "Files/../../evil2"]);
    assert_eq!(p.files(), vec!["vnfd.yaml"]);
    assert!(p.read("../evil").is_err());
    assert!(!t.path().join("..").join("evil").exists());
}

#[test]
fn absolute_entry_is_rejected() {
    let t = tempfile::tempdir().expect("tempdir");
    let z = t.path().join("abs.zip");
    make_zip(
        &z,
        &[("vnfd.yaml", VNFD.as_bytes()), ("/etc/passwd", b"root")],
    );
    let (p, r) = open(&z);
    assert!(r.contains(codes::ABSOLUTE_PATH), "{:?}", r.findings);
    assert!(!p.files().iter().any(|f| f.contains("passwd")));
}

#[cfg(unix)]
#[test]
fn escaping_symlink_is_an_error_and_inner_symlink_is_fine() {
    let t = tempfile::tempdir().expect("tempdir");
    let root = t.path().join("pkg");
    valid_dir(&root);
    std::fs::write(t.path().join("secret"), b"outside").expect("write");
    std::os::unix::fs::symlink("../../secret", root.join("Files/leak")).expect("symlink");
    std::os::unix::fs::symlink("install.sh", root.join("Scripts/alias.sh")).expect("symlink");
    let (p, r) = open(&root);
    let esc: Vec<_> = r
        .findings
        .iter()
        .filter(|f| f.code == codes::SYMLINK_ESCAPE)
        .map(|f| (f.severity, f.location.file.clone()))
        .collect();
    assert_eq!(esc, vec![(Severity::Error, Some("Files/leak".to_string()))]);
    assert!(!p.contains("Files/leak"));
    assert!(p.read("Files/leak").is_err());
    assert!(p.contains("Scripts/alias.sh"));
    assert_eq!(p.read("Scripts/alias.sh").expect("read"), SCRIPT.as_bytes());
}

#[test]
fn digest_mismatch_is_detected_for_images_and_meta_blocks() {
    let t = tempfile::tempdir().expect("tempdir");
    let root = t.path();
    valid_dir(root);
    // Corrupt the image and the script after the digests were written.
    write(root, "Files/images/cirros.img", b"tampered image");
    write(root, "Scripts/install.sh", b"#!/bin/sh\nrm -rf /\n");
    let (p, mut r) = open(root);
    assert!(errors(&r).is_empty(), "{:?}", r.findings);
    p.verify_digests(&mut r);
    let mism: Vec<_> = r
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .map(|f| (f.code.id, f.location.to_string()))
        .collect();
    assert_eq!(
        mism,
        vec![
            (
                "package.meta.digest_mismatch",
                "TOSCA-Metadata/TOSCA.meta:10:7".to_string()
            ),
            (
                "package.manifest.digest_mismatch",
                "vnf.mf:13:7".to_string()
            ),
            (
                "package.manifest.digest_mismatch",
                "vnf.mf:17:7".to_string()
            ),
        ]
    );
}

#[test]
fn missing_listed_files_and_entry_definitions() {
    let t = tempfile::tempdir().expect("tempdir");
    let root = t.path();
    valid_dir(root);
    std::fs::remove_file(root.join("Scripts/install.sh")).expect("rm");
    std::fs::remove_file(root.join("Definitions/top.vnfd.yaml")).expect("rm");
    let (p, r) = open(root);
    assert!(r.contains(codes::ENTRY_DEFINITIONS_NOT_FOUND));
    assert!(r.contains(codes::META_FILE_MISSING));
    let missing = r
        .findings
        .iter()
        .filter(|f| f.code == codes::FILE_MISSING)
        .count();
    assert_eq!(missing, 2);
    assert_eq!(p.entry_definitions(), None);
}

#[test]
fn unreadable_path_is_err_and_corrupt_zip_is_a_finding() {
    let mut r = Report::new();
    let e =
        Package::open(Path::new("/nonexistent/vnf-pkg.csar"), &mut r).expect_err("missing path");
    assert_eq!(e.code(), codes::IO);

    let t = tempfile::tempdir().expect("tempdir");
    let z = t.path().join("bad.csar");
    std::fs::write(&z, b"this is not a zip").expect("write");
    let (p, r) = open(&z);
    assert!(r.contains(codes::BAD_ZIP));
    assert!(p.files().is_empty());
}

#[test]
fn zip_entry_over_size_limit_is_rejected() {
    let t = tempfile::tempdir().expect("tempdir");
    let z = t.path().join("bomb.zip");
    let big = vec![0u8; 64 * 1024];
    make_zip(&z, &[("vnfd.yaml", VNFD.as_bytes()), ("Files/zeros", &big)]);
    let limits = Limits {
        max_entry_size: 32 * 1024,
        ..Limits::default()
    };
    let mut r = Report::new();
    let p = Package::open_with_limits(&z, limits, &mut r).expect("open");
    assert!(r.contains(codes::TOO_LARGE));
    assert!(!p.contains("Files/zeros"));
}

#[test]
fn pack_is_deterministic_and_refreshes_digests() {
    let t = tempfile::tempdir().expect("tempdir");
    let dir = t.path().join("pkg");
    valid_dir(&dir);
    // Make the digests stale, as in Tacker's samples.
    write(&dir, "Scripts/install.sh", b"#!/bin/sh\necho changed\n");
    write(&dir, "Files/images/cirros.img", b"new image");
    let meta_before = std::fs::read(dir.join("TOSCA-Metadata/TOSCA.meta")).expect("read");

    let a = t.path().join("a.csar");
    let b = t.path().join("b.csar");
    let sa = pack(&dir, &a, &PackOptions::default()).expect("pack a");
    // Different modification times must not change the archive.
    for f in ["Scripts/install.sh", "Definitions/top.vnfd.yaml"] {
        let file = std::fs::OpenOptions::new()
            .write(true)
            .open(dir.join(f))
            .expect("open for mtime");
        file.set_modified(
            std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000_000),
        )
        .expect("set mtime");
    }
    let sb = pack(&dir, &b, &PackOptions::default()).expect("pack b");
    assert_eq!(sa.files, 5);
    assert_eq!(
        sa.updated,
        vec![
            "TOSCA-Metadata/TOSCA.meta:10: Scripts/install.sh",
            "vnf.mf:13: Files/images/cirros.img",
            "vnf.mf:17: Scripts/install.sh",
        ]
    );
    assert_eq!(sa.updated, sb.updated);
    assert_eq!(
        std::fs::read(&a).expect("a"),
        std::fs::read(&b).expect("b"),
        "two packs of the same directory differ"
    );
    // The directory is untouched without update_in_place.
    assert_eq!(
        std::fs::read(dir.join("TOSCA-Metadata/TOSCA.meta")).expect("read"),
        meta_before
    );

    // The CSAR verifies cleanly.
    let (p, mut r) = open(&a);
    p.verify_digests(&mut r);
    assert!(errors(&r).is_empty(), "{:?}", r.findings);
    // Only the Hash value changed in TOSCA.meta.
    let packed_meta = p.read_text("TOSCA-Metadata/TOSCA.meta").expect("meta");
    let before = String::from_utf8(meta_before).expect("utf8");
    let diff: Vec<_> = before
        .lines()
        .zip(packed_meta.lines())
        .filter(|(x, y)| x != y)
        .collect();
    assert_eq!(diff.len(), 1);
    assert!(diff[0].0.starts_with("Hash: ") && diff[0].1.starts_with("Hash: "));

    // update_in_place writes the same texts back.
    pack(
        &dir,
        &a,
        &PackOptions {
            update_in_place: true,
        },
    )
    .expect("pack in place");
    let (p, mut r) = open(&dir);
    p.verify_digests(&mut r);
    assert!(errors(&r).is_empty(), "{:?}", r.findings);
}

#[test]
fn pack_refuses_an_invalid_directory() {
    let t = tempfile::tempdir().expect("tempdir");
    let dir = t.path().join("pkg");
    valid_dir(&dir);
    std::fs::remove_file(dir.join("Definitions/top.vnfd.yaml")).expect("rm");
    let err =
        pack(&dir, &t.path().join("x.csar"), &PackOptions::default()).expect_err("must refuse");
    assert_eq!(err.code(), codes::INVALID);
    assert!(!t.path().join("x.csar").exists());
}

#[test]
fn refresh_digests_repairs_placeholder_hashes() {
    let t = tempfile::tempdir().expect("tempdir");
    let dir = t.path();
    valid_dir(dir);
    let meta = meta_text("<Calculated value here>");
    write(dir, "TOSCA-Metadata/TOSCA.meta", meta.as_bytes());
    let (_, r) = open(dir);
    assert!(r.contains(codes::META_MALFORMED_HASH));
    let updated = refresh_digests(dir).expect("refresh");
    assert_eq!(
        updated,
        vec!["TOSCA-Metadata/TOSCA.meta:10: Scripts/install.sh"]
    );
    let (p, mut r) = open(dir);
    p.verify_digests(&mut r);
    assert!(errors(&r).is_empty(), "{:?}", r.findings);
    // Idempotent.
    assert!(refresh_digests(dir).expect("refresh").is_empty());
}

#[test]
fn remote_sources_and_signature_are_info_only() {
    let t = tempfile::tempdir().expect("tempdir");
    let dir = t.path();
    valid_dir(dir);
    let mut mf = std::fs::read_to_string(dir.join("vnf.mf")).expect("read");
    mf.push_str(&format!(
        "\nSource: https://images.example.com/big.qcow2\nAlgorithm: SHA-256\nHash: {}\n\n-----BEGIN CMS-----\nMIIBexample\n-----END CMS-----\n",
        "0".repeat(64)
    ));
    write(dir, "vnf.mf", mf.as_bytes());
    let (p, mut r) = open(dir);
    p.verify_digests(&mut r);
    assert!(errors(&r).is_empty(), "{:?}", r.findings);
    let infos: Vec<_> = r
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Info)
        .map(|f| f.code)
        .collect();
    assert_eq!(
        infos,
        vec![codes::REMOTE_SOURCE, codes::SIGNATURE_NOT_VERIFIED]
    );
}

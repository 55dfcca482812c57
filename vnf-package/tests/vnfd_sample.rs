//! The shipped sample package `samples/packages/k8s_cluster_with_pv` loads without
//! errors and yields the model the rest of vnf-mgmt relies on (names are a contract
//! with the requests and the Base HOT).

use std::path::PathBuf;
use vnf_package::tosca::DirFiles;
use vnf_package::{Report, Severity, vnfd};

fn sample_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../samples/packages/k8s_cluster_with_pv")
}

fn load() -> (Option<vnfd::Vnfd>, Report) {
    let mut report = Report::new();
    let v = vnfd::load_files(
        &DirFiles(sample_dir()),
        "Definitions/sample_kubernetes_top.vnfd.yaml",
        &mut report,
    );
    (v, report)
}

#[test]
fn sample_package_has_no_errors_or_warnings() {
    let (v, report) = load();
    let noisy: Vec<String> = report
        .findings
        .iter()
        .filter(|f| f.severity != Severity::Info)
        .map(|f| f.to_string())
        .collect();
    assert!(noisy.is_empty(), "{noisy:#?}");
    assert!(v.is_some());
}

#[test]
fn sample_vnf_node_and_flavours() {
    let (v, _) = load();
    let v = v.expect("model");
    assert_eq!(v.node_type, "company.provider.VNF");
    assert_eq!(v.descriptor_id, "b1db0ce7-ebca-1fb7-95ed-4840d70a1163");
    assert_eq!(v.provider, "Company");
    assert_eq!(v.software_version, "1.0");
    assert_eq!(v.vnfm_info, vec!["Tacker".to_owned()]);
    let ids: Vec<&str> = v.flavours.keys().map(String::as_str).collect();
    assert_eq!(ids, vec!["simple", "complex"]);
}

#[test]
fn simple_flavour_contract() {
    let (v, _) = load();
    let v = v.expect("model");
    let f = v.flavour("simple").expect("simple");
    assert_eq!(f.file, "Definitions/sample_kubernetes_df_simple.yaml");
    let vdus: Vec<&str> = f.vdus.keys().map(String::as_str).collect();
    assert_eq!(vdus, vec!["masterNode", "workerNode", "storage_server"]);
    let m = &f.vdus["masterNode"];
    assert_eq!(
        (m.min_instances, m.max_instances, m.initial_delta),
        (1, 3, 1)
    );
    assert_eq!(m.flavor_name.as_deref(), Some("m1.medium"));
    assert_eq!(m.num_virtual_cpu, Some(2));
    assert_eq!(m.virtual_mem_bytes, Some(4_000_000_000));
    assert_eq!(
        m.image_artifact.as_deref(),
        Some("Files/images/ubuntu-20.04-server-cloudimg-amd64.img")
    );
    let w = &f.vdus["workerNode"];
    assert_eq!(
        (w.min_instances, w.max_instances, w.initial_delta),
        (2, 4, 2)
    );
    let s = &f.vdus["storage_server"];
    assert_eq!((s.min_instances, s.max_instances), (1, 1));
    assert_eq!(s.virtual_storages, vec!["storage_server_volume".to_owned()]);
    let vol = &f.volumes["storage_server_volume"];
    assert_eq!(vol.size_bytes, 5_000_000_000);
    assert_eq!(vol.size_gib(), 5);
    assert_eq!(f.volumes_of("storage_server").len(), 1);
    for (cp, vdu) in [
        ("masterNode_CP1", "masterNode"),
        ("workerNode_CP2", "workerNode"),
        ("storage_server_CP", "storage_server"),
    ] {
        assert_eq!(f.cps[cp].vdu, vdu);
        assert_eq!(f.cps[cp].layer_protocols, vec!["ipv4".to_owned()]);
    }
    let ma = &f.aspects["master_instance"];
    assert_eq!(ma.max_scale_level, 2);
    assert_eq!(ma.step_delta("masterNode"), 1);
    let wa = &f.aspects["worker_instance"];
    assert_eq!(wa.step_delta("workerNode"), 1);
    assert_eq!(f.aspect_of_vdu("storage_server"), None);
    assert_eq!(f.default_level.as_deref(), Some("instantiation_level_1"));
    let l2 = f.level(Some("instantiation_level_2"));
    assert_eq!(f.instances_at_level("masterNode", l2), 1);
    assert_eq!(f.instances_at_level("workerNode", l2), 4);
    assert_eq!(f.instances_at_level("workerNode", f.level(None)), 2);
    let hooks: Vec<&str> = f.lcm_hooks.keys().map(String::as_str).collect();
    assert_eq!(
        hooks,
        vec![
            "instantiate_start",
            "instantiate_end",
            "terminate_start",
            "terminate_end",
            "heal_start",
            "heal_end",
            "scale_start",
            "scale_end"
        ]
    );
    let a = &f.artifacts["mgmt-drivers-kubernetes"];
    assert_eq!(a.artifact_type, "tosca.artifacts.Implementation.Python");
    assert_eq!(a.file, "Scripts/vnf_mgmt_driver.py");
    assert!(a.in_package);
    assert_eq!(
        f.substitution_requirements["virtual_link_external1_1"],
        ("masterNode_CP1".to_owned(), "virtual_link".to_owned())
    );
}

#[test]
fn complex_flavour_contract() {
    let (v, _) = load();
    let v = v.expect("model");
    let f = v.flavour("complex").expect("complex");
    let m = &f.vdus["masterNode"];
    assert_eq!(
        (m.min_instances, m.max_instances, m.initial_delta),
        (3, 5, 3)
    );
    assert_eq!(
        f.instances_at_level("masterNode", f.level(Some("instantiation_level_2"))),
        5
    );
    assert_eq!(f.placement_rules.len(), 1);
    let r = &f.placement_rules[0];
    assert_eq!(r.kind, vnfd::PlacementKind::AntiAffinity);
    assert_eq!(r.scope, "nfvi_node");
    assert_eq!(r.targets, vec!["masterNode".to_owned()]);
}

#[test]
fn image_checksum_matches_stand_in_file() {
    use sha2::{Digest, Sha512};
    let (v, _) = load();
    let v = v.expect("model");
    let vdu = &v.flavour("simple").expect("simple").vdus["masterNode"];
    let img = vdu.image_artifact.as_deref().expect("image");
    let bytes = std::fs::read(sample_dir().join(img)).expect("image file");
    let sum = vdu
        .sw_image
        .as_ref()
        .and_then(|s| s.checksum.as_ref())
        .expect("checksum");
    assert_eq!(sum.algorithm, "sha-512");
    assert_eq!(sum.hash, hex::encode(Sha512::digest(&bytes)));
}

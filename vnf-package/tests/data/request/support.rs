// Test support shared by the request unit tests (`#[path]`-included) and the integration
// tests: a hand-built VNFD of `samples/packages/k8s_cluster_with_pv` and an in-memory
// package with its files.
#![allow(dead_code)]

use super::pkg::diag::Location;
use super::pkg::request::PackageFiles;
use super::pkg::vnfd::{
    Flavour, InstantiationLevel, ScalingAspect, Vdu, VduCp, VirtualBlockStorage, Vnfd,
};
use indexmap::IndexMap;
use std::collections::BTreeMap;

/// The package's files as text.
pub struct MemFiles(pub BTreeMap<String, String>);

impl PackageFiles for MemFiles {
    fn contains(&self, rel: &str) -> bool {
        self.0.contains_key(rel)
    }
    fn read_text(&self, rel: &str) -> Option<String> {
        self.0.get(rel).cloned()
    }
}

pub fn pv_yaml(name: &str, size: &str, path: &str) -> String {
    format!(
        "apiVersion: v1\nkind: PersistentVolume\nmetadata:\n  name: {name}\nspec:\n  capacity:\n    storage: {size}\n  persistentVolumeReclaimPolicy: Retain\n  accessModes:\n    - ReadWriteOnce\n  nfs:\n    server: 0.0.0.0\n    path: \"{path}\"\n"
    )
}

/// The files of the sample package that requests refer to.
pub fn sample_files() -> MemFiles {
    let mut m = BTreeMap::new();
    m.insert(
        "Files/kubernetes/nfs-pv1.yaml".to_string(),
        pv_yaml("nfs-pv1", "1Gi", "/volume/nfs/pv1"),
    );
    m.insert(
        "Files/kubernetes/nfs-pv2.yaml".to_string(),
        pv_yaml("nfs-pv2", "2Gi", "/volume/nfs/pv2"),
    );
    m.insert(
        "Scripts/install_k8s_cluster.sh".to_string(),
        "#!/bin/sh\n".to_string(),
    );
    m.insert(
        "Definitions/sample_kubernetes_types.yaml".to_string(),
        "tosca_definitions_version: tosca_simple_yaml_1_2\nnode_types: {}\n".to_string(),
    );
    m.insert(
        "UserData/k8s_cluster_user_data.py".to_string(),
        "# user data\n".to_string(),
    );
    MemFiles(m)
}

fn vdu(name: &str, min: u32, max: u32, initial: u32, storages: &[&str]) -> Vdu {
    Vdu {
        name: name.into(),
        display_name: Some(name.into()),
        description: None,
        min_instances: min,
        max_instances: max,
        initial_delta: initial,
        sw_image: None,
        image_artifact: None,
        flavor_name: Some("m1.medium".into()),
        num_virtual_cpu: Some(2),
        virtual_mem_bytes: Some(4 << 30),
        local_storage_bytes: None,
        virtual_storages: storages.iter().map(|s| s.to_string()).collect(),
        level_instances: IndexMap::new(),
        location: Location::default(),
    }
}

fn cp(name: &str, vdu: &str) -> VduCp {
    VduCp {
        name: name.into(),
        vdu: vdu.into(),
        virtual_link: None,
        order: Some(0),
        layer_protocols: vec!["ipv4".into()],
        vnic_type: None,
        location: Location::default(),
    }
}

fn aspect(id: &str, vdu: &str) -> ScalingAspect {
    let mut deltas = IndexMap::new();
    deltas.insert("delta_1".to_string(), 1);
    let mut vdu_deltas = IndexMap::new();
    vdu_deltas.insert(vdu.to_string(), deltas);
    ScalingAspect {
        id: id.into(),
        name: Some(id.into()),
        description: None,
        max_scale_level: 2,
        step_deltas: vec!["delta_1".into()],
        vdu_deltas,
        location: Location::default(),
    }
}

fn level(id: &str, master_scale: u32, worker_scale: u32) -> InstantiationLevel {
    let mut scale_info = IndexMap::new();
    scale_info.insert("master_instance".to_string(), master_scale);
    scale_info.insert("worker_instance".to_string(), worker_scale);
    InstantiationLevel {
        id: id.into(),
        description: None,
        scale_info,
        location: Location::default(),
    }
}

/// Flavour `simple` (1 master) or `complex` (3 masters). As in the sample package, only
/// the complex flavour scales masters at `instantiation_level_2`.
pub fn flavour(id: &str, masters: u32) -> Flavour {
    let level2_master_scale = if masters > 1 { 2 } else { 0 };
    let mut vdus = IndexMap::new();
    vdus.insert(
        "masterNode".to_string(),
        vdu("masterNode", masters, masters + 2, masters, &[]),
    );
    vdus.insert("workerNode".to_string(), vdu("workerNode", 2, 4, 2, &[]));
    vdus.insert(
        "storage_server".to_string(),
        vdu("storage_server", 1, 1, 1, &["storage_server_volume"]),
    );
    let mut cps = IndexMap::new();
    for (c, v) in [
        ("masterNode_CP1", "masterNode"),
        ("workerNode_CP2", "workerNode"),
        ("storage_server_CP", "storage_server"),
    ] {
        cps.insert(c.to_string(), cp(c, v));
    }
    let mut volumes = IndexMap::new();
    volumes.insert(
        "storage_server_volume".to_string(),
        VirtualBlockStorage {
            name: "storage_server_volume".into(),
            size_bytes: 5 << 30,
            image_artifact: None,
            location: Location::default(),
        },
    );
    let mut aspects = IndexMap::new();
    aspects.insert(
        "master_instance".to_string(),
        aspect("master_instance", "masterNode"),
    );
    aspects.insert(
        "worker_instance".to_string(),
        aspect("worker_instance", "workerNode"),
    );
    let mut levels = IndexMap::new();
    levels.insert(
        "instantiation_level_1".to_string(),
        level("instantiation_level_1", 0, 0),
    );
    levels.insert(
        "instantiation_level_2".to_string(),
        level("instantiation_level_2", level2_master_scale, 2),
    );
    Flavour {
        id: id.into(),
        description: None,
        file: format!("Definitions/sample_kubernetes_df_{id}.yaml"),
        vdus,
        cps,
        volumes,
        virtual_links: IndexMap::new(),
        aspects,
        instantiation_levels: levels,
        default_level: Some("instantiation_level_1".into()),
        placement_rules: Vec::new(),
        lcm_hooks: IndexMap::new(),
        artifacts: IndexMap::new(),
        substitution_requirements: IndexMap::new(),
        location: Location::default(),
    }
}

/// The VNFD of the sample package.
pub fn sample_vnfd() -> Vnfd {
    let mut flavours = IndexMap::new();
    flavours.insert("simple".to_string(), flavour("simple", 1));
    flavours.insert("complex".to_string(), flavour("complex", 3));
    Vnfd {
        entry_file: "Definitions/sample_kubernetes_top.vnfd.yaml".into(),
        node_type: "company.provider.VNF".into(),
        descriptor_id: "b1db0ce7-ebca-1fb7-95ed-4840d70a1163".into(),
        descriptor_version: Some("1.0".into()),
        provider: "Company".into(),
        product_name: "Sample VNF".into(),
        software_version: "1.0".into(),
        vnfm_info: vec!["Tacker".into()],
        flavours,
        location: Location::default(),
    }
}

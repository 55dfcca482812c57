//! Hand-built VNFD and request fixtures mirroring `samples/packages/k8s_cluster_with_pv`.
#![allow(dead_code)]

use indexmap::IndexMap;
use vnf_package::Location;
use vnf_package::request::InstantiateVnfRequest;
use vnf_package::vnfd::*;

const GB: u64 = 1_000_000_000;

fn loc(file: &str) -> Location {
    Location::file(file)
}

fn vdu(name: &str, min: u32, max: u32, initial: u32, image: &str, storages: &[&str]) -> Vdu {
    Vdu {
        name: name.into(),
        display_name: Some(name.into()),
        description: None,
        min_instances: min,
        max_instances: max,
        initial_delta: initial,
        sw_image: Some(SwImageData {
            name: image.into(),
            version: Some("20.04".into()),
            checksum: None,
            container_format: Some("bare".into()),
            disk_format: Some("qcow2".into()),
            min_disk_bytes: Some(0),
            min_ram_bytes: None,
            size_bytes: Some(2 * GB),
        }),
        image_artifact: Some("Files/images/ubuntu-20.04-server-cloudimg-amd64.img".into()),
        flavor_name: Some("m1.medium".into()),
        num_virtual_cpu: Some(2),
        virtual_mem_bytes: Some(4 * GB),
        local_storage_bytes: Some(45 * GB),
        virtual_storages: storages.iter().map(|s| s.to_string()).collect(),
        level_instances: IndexMap::new(),
        location: loc("Definitions/df.yaml"),
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
        location: loc("Definitions/df.yaml"),
    }
}

fn aspect(id: &str, vdu: &str, max_level: u32) -> ScalingAspect {
    let mut deltas = IndexMap::new();
    deltas.insert("delta_1".to_string(), 1);
    let mut vdu_deltas = IndexMap::new();
    vdu_deltas.insert(vdu.to_string(), deltas);
    ScalingAspect {
        id: id.into(),
        name: Some(id.into()),
        description: None,
        max_scale_level: max_level,
        step_deltas: vec!["delta_1".into()],
        vdu_deltas,
        location: loc("Definitions/df.yaml"),
    }
}

fn level(id: &str, master: u32, worker: u32) -> InstantiationLevel {
    let mut scale_info = IndexMap::new();
    scale_info.insert("master_instance".to_string(), master);
    scale_info.insert("worker_instance".to_string(), worker);
    InstantiationLevel {
        id: id.into(),
        description: None,
        scale_info,
        location: loc("Definitions/df.yaml"),
    }
}

/// Flavour `simple` (`masters` = 1) or `complex` (`masters` = 3, anti-affinity on masters).
pub fn flavour(id: &str, complex: bool) -> Flavour {
    let (m_init, m_min, m_max, image) = if complex {
        (3, 3, 5, "Image for masterNode HA kubernetes")
    } else {
        (1, 1, 3, "Image for masterNode kubernetes")
    };
    let file = format!("Definitions/sample_kubernetes_df_{id}.yaml");
    let mut vdus = IndexMap::new();
    for v in [
        vdu("masterNode", m_min, m_max, m_init, image, &[]),
        vdu(
            "workerNode",
            2,
            4,
            2,
            "Image for workerNode kubernetes",
            &[],
        ),
        vdu(
            "storage_server",
            1,
            1,
            1,
            "Image for storage server",
            &["storage_server_volume"],
        ),
    ] {
        vdus.insert(v.name.clone(), v);
    }
    let mut cps = IndexMap::new();
    for c in [
        cp("masterNode_CP1", "masterNode"),
        cp("workerNode_CP2", "workerNode"),
        cp("storage_server_CP", "storage_server"),
    ] {
        cps.insert(c.name.clone(), c);
    }
    let mut volumes = IndexMap::new();
    volumes.insert(
        "storage_server_volume".to_string(),
        VirtualBlockStorage {
            name: "storage_server_volume".into(),
            size_bytes: 5 * GB,
            image_artifact: None,
            location: loc(&file),
        },
    );
    let mut aspects = IndexMap::new();
    for a in [
        aspect("master_instance", "masterNode", 2),
        aspect("worker_instance", "workerNode", 2),
    ] {
        aspects.insert(a.id.clone(), a);
    }
    let mut levels = IndexMap::new();
    for l in [
        level("instantiation_level_1", 0, 0),
        level("instantiation_level_2", 0, 2),
    ] {
        levels.insert(l.id.clone(), l);
    }
    let placement_rules = if complex {
        vec![PlacementRule {
            name: "master_anti_affinity".into(),
            kind: PlacementKind::AntiAffinity,
            scope: "nfvi_node".into(),
            targets: vec!["masterNode".into()],
            location: loc(&file),
        }]
    } else {
        Vec::new()
    };
    Flavour {
        id: id.into(),
        description: None,
        file: file.clone(),
        vdus,
        cps,
        volumes,
        virtual_links: IndexMap::new(),
        aspects,
        instantiation_levels: levels,
        default_level: Some("instantiation_level_1".into()),
        placement_rules,
        lcm_hooks: IndexMap::new(),
        artifacts: IndexMap::new(),
        substitution_requirements: IndexMap::new(),
        location: loc(&file),
    }
}

/// The whole VNFD with flavours `simple` and `complex`.
pub fn vnfd() -> Vnfd {
    let mut flavours = IndexMap::new();
    flavours.insert("simple".to_string(), flavour("simple", false));
    flavours.insert("complex".to_string(), flavour("complex", true));
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
        location: loc("Definitions/sample_kubernetes_top.vnfd.yaml"),
    }
}

pub const NET: &str = "f0c82461-36b5-4d86-8322-b0bc19cda65f";

/// The seed guide's request (storage server + PVs), for `flavour`, with `cluster_cp_name`.
pub fn request_json(flavour: &str, cluster_cp: &str) -> serde_json::Value {
    let ext = |id: &str, cp: &str| {
        serde_json::json!({
            "id": id,
            "resourceId": NET,
            "extCps": [{"cpdId": cp, "cpConfig": [{"cpProtocolData": [{"layerProtocol": "IP_OVER_ETHERNET"}]}]}]
        })
    };
    serde_json::json!({
        "flavourId": flavour,
        "additionalParams": {
            "k8s_cluster_installation_param": {
                "script_path": "Scripts/install_k8s_cluster.sh",
                "vim_name": "kubernetes_vim",
                "master_node": {
                    "aspect_id": "master_instance",
                    "ssh_cp_name": "masterNode_CP1",
                    "nic_cp_name": "masterNode_CP1",
                    "username": "ubuntu",
                    "password": "ubuntu",
                    "pod_cidr": "192.168.3.0/16",
                    "cluster_cidr": "10.199.187.0/24",
                    "cluster_cp_name": cluster_cp
                },
                "worker_node": {
                    "aspect_id": "worker_instance",
                    "ssh_cp_name": "workerNode_CP2",
                    "nic_cp_name": "workerNode_CP2",
                    "username": "ubuntu",
                    "password": "ubuntu"
                },
                "storage_server": {
                    "ssh_cp_name": "storage_server_CP",
                    "nic_cp_name": "storage_server_CP",
                    "username": "ubuntu",
                    "password": "ubuntu",
                    "cinder_volume_setup_params": [{"volume_resource_id": "storage_server_volume", "mount_to": "/volume"}],
                    "nfs_server_setup_params": [{"export_dir": "/volume/nfs/pv1", "export_to": "10.10.0.0/24"}]
                },
                "pv_registration_params": [{"pv_manifest_file_path": "Files/kubernetes/nfs-pv1.yaml", "nfs_server_cp": "storage_server_CP"}]
            },
            "lcm-operation-user-data": "./UserData/k8s_cluster_user_data.py",
            "lcm-operation-user-data-class": "KubernetesClusterUserData"
        },
        "extVirtualLinks": [
            ext("net0_master", "masterNode_CP1"),
            ext("net0_worker", "workerNode_CP2"),
            ext("net0_storage", "storage_server_CP")
        ],
        "vimConnectionInfo": [{"id": "8a3adb69-0784-43c7-833e-aab0b6ab4470", "vimId": "8d8373fe-6977-49ff-83ac-7756572ed186", "vimType": "openstack"}]
    })
}

pub fn request(flavour: &str, cluster_cp: &str) -> InstantiateVnfRequest {
    serde_json::from_value(request_json(flavour, cluster_cp)).expect("fixture request parses")
}

pub fn simple_request() -> InstantiateVnfRequest {
    request("simple", "masterNode_CP1")
}

pub fn complex_request() -> InstantiateVnfRequest {
    request("complex", "vip_CP")
}

//! The sample package `samples/packages/k8s_cluster_with_pv` and the sample requests,
//! through the real loaders: generated bundles follow the naming contract, capacities
//! equal the VDUs' `VduInstantiationLevels`, the `nfv` parameter equals what Tacker's
//! UserData computes from the raw DF YAML and raw request JSON, and the package's own
//! BaseHOT passes the checker.

use hot_templates::{HotBundle, check_base_hot, check_bundle, generate, nfv_parameters};
use serde_json::{Map, Value, json};
use std::path::{Path, PathBuf};
use vnf_package::archive::Package;
use vnf_package::request::InstantiateVnfRequest;
use vnf_package::vnfd::{self, Vnfd};
use vnf_package::{Report, Severity};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn package() -> (Package, Vnfd) {
    let mut r = Report::new();
    let pkg = Package::open(&root().join("samples/packages/k8s_cluster_with_pv"), &mut r)
        .expect("package opens");
    let vnfd = vnfd::load(&pkg, &mut r).expect("VNFD loads");
    assert!(r.ok(), "package findings: {:#?}", r.findings);
    (pkg, vnfd)
}

fn request_raw(name: &str) -> Value {
    let text =
        std::fs::read_to_string(root().join("samples/requests").join(name)).expect("request");
    serde_json::from_str(&text).expect("JSON")
}

fn request(name: &str) -> InstantiateVnfRequest {
    serde_json::from_value(request_raw(name)).expect("request model")
}

/// Tacker's UserData, written against the raw DF YAML and raw request JSON:
/// `create_vdu_flavor_capability_name_dict`, `create_sw_image_dict`,
/// `create_network_dict` and `create_final_param_dict`.
fn tacker_nfv(pkg: &Package, df_file: &str, req: &Value) -> Value {
    let df: Value = serde_saphyr::from_str(&pkg.read_text(df_file).expect("DF")).expect("DF YAML");
    let nodes = df["topology_template"]["node_templates"]
        .as_object()
        .expect("nodes");
    let mut vdu = Map::new();
    let mut cps = Vec::new();
    for (name, node) in nodes {
        match node["type"].as_str() {
            Some("tosca.nodes.nfv.Vdu.Compute") => {
                let flavor = node
                    .pointer("/capabilities/virtual_compute/properties/requested_additional_capabilities/properties/requested_additional_capability_name")
                    .cloned()
                    .unwrap_or(Value::Null);
                let image = node
                    .pointer("/properties/sw_image_data/name")
                    .cloned()
                    .unwrap_or(Value::Null);
                vdu.insert(name.clone(), json!({"flavor": flavor, "image": image}));
            }
            Some("tosca.nodes.nfv.VduCp") => cps.push(name.clone()),
            _ => {}
        }
    }
    let mut cp = Map::new();
    for vl in req["extVirtualLinks"].as_array().into_iter().flatten() {
        for ext_cp in vl["extCps"].as_array().into_iter().flatten() {
            let Some(id) = ext_cp["cpdId"].as_str() else {
                continue;
            };
            if !cps.iter().any(|c| c == id) {
                continue;
            }
            let mut fixed_ips = Vec::new();
            for config in ext_cp["cpConfig"].as_array().into_iter().flatten() {
                for proto in config["cpProtocolData"].as_array().into_iter().flatten() {
                    for addr in proto
                        .pointer("/ipOverEthernet/ipAddresses")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                    {
                        let mut fixed = Map::new();
                        for a in addr["fixedAddresses"].as_array().into_iter().flatten() {
                            fixed.insert("ip_address".into(), a.clone());
                        }
                        if let Some(s) = addr.get("subnetId") {
                            fixed.insert("subnet".into(), s.clone());
                        }
                        if !fixed.is_empty() {
                            fixed_ips.push(Value::Object(fixed));
                        }
                    }
                }
            }
            cp.insert(
                id.to_string(),
                json!({"network": vl["resourceId"], "fixed_ips": fixed_ips}),
            );
        }
    }
    json!({"VDU": vdu, "CP": cp})
}

fn generate_checked(
    vnfd: &Vnfd,
    flavour: &str,
    level: Option<&str>,
    req: &InstantiateVnfRequest,
) -> HotBundle {
    let b = generate(vnfd, flavour, level, req).expect("generates");
    let mut r = Report::new();
    check_bundle(&b, &mut r);
    assert!(r.findings.is_empty(), "{flavour}: {:#?}", r.findings);
    // Heat reads YAML: the emitted text must parse back to the same templates.
    let back: Value = serde_saphyr::from_str(&b.top_yaml().expect("yaml")).expect("parses");
    assert_eq!(back, b.top.0);
    b
}

/// Naming contract and capacities against the loaded VNFD.
fn assert_contract(vnfd: &Vnfd, flavour: &str, level: &str, b: &HotBundle) {
    let fl = vnfd.flavour(flavour).expect("flavour");
    let top = &b.top;
    for vdu in fl.vdus.values() {
        let (tpl, file) = match fl.aspect_of_vdu(&vdu.name) {
            Some(aspect) => {
                let asg = top.resource(&aspect.id).expect("ASG named after aspect");
                assert_eq!(asg["type"], "OS::Heat::AutoScalingGroup");
                let file = format!("nested/{}.yaml", aspect.id);
                assert_eq!(asg["properties"]["resource"]["type"], file.as_str());
                assert_eq!(asg["properties"]["min_size"], vdu.min_instances);
                assert_eq!(asg["properties"]["max_size"], vdu.max_instances);
                // Independent oracle: the VNFD's VduInstantiationLevels.
                assert_eq!(
                    asg["properties"]["desired_capacity"],
                    *vdu.level_instances
                        .get(level)
                        .expect("VduInstantiationLevels"),
                    "{flavour}/{level}/{}",
                    vdu.name
                );
                for (suffix, sign) in [("scale_out", 1i64), ("scale_in", -1)] {
                    let pol = top
                        .resource(&format!("{}_{suffix}", aspect.id))
                        .expect("policy");
                    assert_eq!(
                        pol["properties"]["scaling_adjustment"],
                        sign * i64::from(aspect.step_delta(&vdu.name))
                    );
                }
                (b.files.get(&file).expect("nested file"), file)
            }
            None => (top, "top.yaml".to_string()),
        };
        assert_eq!(
            tpl.resource_type(&vdu.name),
            Some("OS::Nova::Server"),
            "{} in {file}",
            vdu.name
        );
        for cp in fl.cps_of(&vdu.name) {
            assert_eq!(
                tpl.resource_type(&cp.name),
                Some("OS::Neutron::Port"),
                "{} in {file}",
                cp.name
            );
        }
        for (i, vol) in fl.volumes_of(&vdu.name).iter().enumerate() {
            assert_eq!(tpl.resource_type(&vol.name), Some("OS::Cinder::Volume"));
            let bdm = &tpl.resource(&vdu.name).expect("server")["properties"]["block_device_mapping_v2"]
                [i];
            assert_eq!(bdm["volume_id"], json!({"get_resource": vol.name}));
            assert_eq!(bdm["boot_index"], -1);
        }
    }
}

#[test]
fn simple_pv_request_generates_the_contract() {
    let (pkg, vnfd) = package();
    let raw = request_raw("instantiate_simple_pv.json");
    let req = request("instantiate_simple_pv.json");
    let b = generate_checked(&vnfd, "simple", None, &req);
    assert_contract(&vnfd, "simple", "instantiation_level_1", &b);
    let bdm =
        &b.top.resource("storage_server").expect("server")["properties"]["block_device_mapping_v2"];
    assert_eq!(
        bdm,
        &json!([{"device_name": "vdb", "volume_id": {"get_resource": "storage_server_volume"}, "boot_index": -1}])
    );
    assert_eq!(
        b.top.resource("storage_server_volume").expect("vol")["properties"]["size"],
        5
    );
    let l2 = generate_checked(&vnfd, "simple", Some("instantiation_level_2"), &req);
    assert_contract(&vnfd, "simple", "instantiation_level_2", &l2);

    let df = &vnfd.flavour("simple").expect("simple").file;
    assert_eq!(b.parameters["nfv"], tacker_nfv(&pkg, df, &raw));
}

#[test]
fn complex_pv_request_generates_vip_and_anti_affinity() {
    let (pkg, vnfd) = package();
    let raw = request_raw("instantiate_complex_pv.json");
    let req = request("instantiate_complex_pv.json");
    for level in ["instantiation_level_1", "instantiation_level_2"] {
        let b = generate_checked(&vnfd, "complex", Some(level), &req);
        assert_contract(&vnfd, "complex", level, &b);
    }
    let b = generate_checked(&vnfd, "complex", None, &req);
    let master_cp = "masterNode_CP1";
    let vip = b.top.resource("vip_CP").expect("VIP port");
    assert_eq!(vip["type"], "OS::Neutron::Port");
    assert_eq!(
        vip["properties"]["network"],
        json!({"get_param": ["nfv", "CP", master_cp, "network"]})
    );
    let asg = b.top.resource("master_instance").expect("ASG");
    assert_eq!(
        asg["properties"]["resource"]["properties"]["vip_port_ip"],
        json!({"get_attr": ["vip_CP", "fixed_ips", 0, "ip_address"]})
    );
    let nested = &b.files["nested/master_instance.yaml"];
    assert_eq!(
        nested.resource(master_cp).expect("port")["properties"]["allowed_address_pairs"],
        json!([{"ip_address": {"get_param": "vip_port_ip"}}])
    );
    let group = b
        .top
        .resource("master_anti_affinity")
        .expect("server group");
    assert_eq!(group["properties"]["policies"], json!(["anti-affinity"]));
    assert_eq!(
        nested.resource("masterNode").expect("server")["properties"]["scheduler_hints"],
        json!({"group": {"get_param": "scheduler_hints"}})
    );

    let df = &vnfd.flavour("complex").expect("complex").file;
    assert_eq!(b.parameters["nfv"], tacker_nfv(&pkg, df, &raw));
    assert_eq!(
        nfv_parameters(vnfd.flavour("complex").expect("complex"), &req).expect("nfv"),
        tacker_nfv(&pkg, df, &raw)
    );
}

#[test]
fn minimal_request_generates_too() {
    let (pkg, vnfd) = package();
    let raw = request_raw("instantiate_simple_minimal.json");
    let b = generate_checked(
        &vnfd,
        "simple",
        None,
        &request("instantiate_simple_minimal.json"),
    );
    let df = &vnfd.flavour("simple").expect("simple").file;
    assert_eq!(b.parameters["nfv"], tacker_nfv(&pkg, df, &raw));
}

#[test]
fn package_base_hot_passes_the_checker() {
    let (pkg, vnfd) = package();
    let files: Vec<(String, String)> = pkg
        .files()
        .into_iter()
        .filter(|p| p.starts_with("BaseHOT/"))
        .map(|p| {
            let text = pkg.read_text(&p).expect("text");
            (p, text)
        })
        .collect();
    assert!(files.len() >= 3, "BaseHOT files: {files:?}");
    for flavour in vnfd.flavours.keys() {
        let mut r = Report::new();
        check_base_hot(&files, &vnfd, flavour, &mut r);
        assert_eq!(r.count(Severity::Error), 0, "{flavour}: {:#?}", r.findings);
        assert!(r.findings.is_empty(), "{flavour}: {:#?}", r.findings);
    }
}

//! Generation for the sample flavours: the bundle is emitted as YAML, parsed back and
//! checked for the naming contract, capacities, volume mapping, VIP and placement wiring.

mod common;

use hot_templates::{HotBundle, HotError, Template, check_bundle, codes, generate};
use serde_json::{Value, json};
use vnf_package::Report;

/// Emits every template as YAML and parses it back, as Heat would read it.
fn round_trip(b: &HotBundle) -> (Value, Vec<(String, Value)>) {
    let top_yaml = b.top_yaml().expect("top emits");
    let top: Value = serde_saphyr::from_str(&top_yaml).expect("top parses back");
    assert_eq!(top, b.top.0, "YAML round trip changes the top template");
    let files = b
        .files
        .iter()
        .map(|(k, t)| {
            let y = t.to_yaml().expect("nested emits");
            let v: Value = serde_saphyr::from_str(&y).expect("nested parses back");
            assert_eq!(&v, &t.0, "YAML round trip changes {k}");
            (k.clone(), v)
        })
        .collect();
    (top, files)
}

fn clean(b: &HotBundle) {
    let mut r = Report::new();
    check_bundle(b, &mut r);
    assert!(r.findings.is_empty(), "grammar findings: {:#?}", r.findings);
}

fn res<'a>(t: &'a Value, name: &str) -> &'a Value {
    t.pointer(&format!("/resources/{name}"))
        .unwrap_or_else(|| panic!("resource {name} missing in {t:#}"))
}

fn nested<'a>(files: &'a [(String, Value)], key: &str) -> &'a Value {
    &files
        .iter()
        .find(|(k, _)| k == key)
        .unwrap_or_else(|| panic!("file {key} missing"))
        .1
}

#[test]
fn simple_flavour_follows_the_naming_contract() {
    let vnfd = common::vnfd();
    let b = generate(&vnfd, "simple", None, &common::simple_request()).expect("generates");
    clean(&b);
    let (top, files) = round_trip(&b);

    assert_eq!(top["heat_template_version"], "2013-05-23");
    assert_eq!(top["parameters"]["nfv"]["type"], "json");
    let keys: Vec<&str> = files.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        keys,
        ["nested/master_instance.yaml", "nested/worker_instance.yaml"]
    );

    for (aspect, vdu, cp, min, max, desired) in [
        ("master_instance", "masterNode", "masterNode_CP1", 1, 3, 1),
        ("worker_instance", "workerNode", "workerNode_CP2", 2, 4, 2),
    ] {
        let asg = res(&top, aspect);
        assert_eq!(asg["type"], "OS::Heat::AutoScalingGroup");
        let p = &asg["properties"];
        assert_eq!(p["min_size"], min);
        assert_eq!(p["max_size"], max);
        assert_eq!(p["desired_capacity"], desired);
        let file = format!("nested/{aspect}.yaml");
        assert_eq!(p["resource"]["type"], file.as_str());
        let rp = &p["resource"]["properties"];
        assert_eq!(
            rp["flavor"],
            json!({"get_param": ["nfv", "VDU", vdu, "flavor"]})
        );
        assert_eq!(
            rp["image"],
            json!({"get_param": ["nfv", "VDU", vdu, "image"]})
        );
        assert_eq!(
            rp[format!("{cp}_network")],
            json!({"get_param": ["nfv", "CP", cp, "network"]})
        );
        assert_eq!(
            rp[format!("{cp}_fixed_ips")],
            json!({"get_param": ["nfv", "CP", cp, "fixed_ips"]})
        );
        assert!(rp.get("vip_port_ip").is_none() && rp.get("scheduler_hints").is_none());

        for (suffix, adj) in [("scale_out", 1), ("scale_in", -1)] {
            let pol = res(&top, &format!("{aspect}_{suffix}"));
            assert_eq!(pol["type"], "OS::Heat::ScalingPolicy");
            assert_eq!(pol["properties"]["adjustment_type"], "change_in_capacity");
            assert_eq!(
                pol["properties"]["auto_scaling_group_id"],
                json!({"get_resource": aspect})
            );
            assert_eq!(pol["properties"]["scaling_adjustment"], adj);
        }

        let n = nested(&files, &file);
        let server = res(n, vdu);
        assert_eq!(server["type"], "OS::Nova::Server");
        assert_eq!(
            server["properties"]["flavor"],
            json!({"get_param": "flavor"})
        );
        assert_eq!(
            server["properties"]["networks"],
            json!([{"port": {"get_resource": cp}}])
        );
        let port = res(n, cp);
        assert_eq!(port["type"], "OS::Neutron::Port");
        assert_eq!(
            port["properties"]["network"],
            json!({"get_param": format!("{cp}_network")})
        );
        assert!(port["properties"].get("allowed_address_pairs").is_none());
        // The member template holds exactly the VDU's server and port.
        assert_eq!(n["resources"].as_object().map(|m| m.len()), Some(2));
        // The server is not in the top template.
        assert!(top.pointer(&format!("/resources/{vdu}")).is_none());
    }
}

#[test]
fn storage_server_is_in_the_top_template_with_its_volume_as_vdb() {
    let vnfd = common::vnfd();
    let b = generate(&vnfd, "simple", None, &common::simple_request()).expect("generates");
    let (top, files) = round_trip(&b);
    let vol = res(&top, "storage_server_volume");
    assert_eq!(vol["type"], "OS::Cinder::Volume");
    assert_eq!(vol["properties"]["size"], 5);
    let port = res(&top, "storage_server_CP");
    assert_eq!(
        port["properties"]["network"],
        json!({"get_param": ["nfv", "CP", "storage_server_CP", "network"]})
    );
    let server = res(&top, "storage_server");
    assert_eq!(server["type"], "OS::Nova::Server");
    let p = &server["properties"];
    assert_eq!(
        p["flavor"],
        json!({"get_param": ["nfv", "VDU", "storage_server", "flavor"]})
    );
    assert_eq!(
        p["image"],
        json!({"get_param": ["nfv", "VDU", "storage_server", "image"]})
    );
    assert_eq!(
        p["block_device_mapping_v2"],
        json!([{"device_name": "vdb", "volume_id": {"get_resource": "storage_server_volume"}, "boot_index": -1}])
    );
    assert_eq!(
        p["networks"],
        json!([{"port": {"get_resource": "storage_server_CP"}}])
    );
    for (_, n) in &files {
        assert!(n.pointer("/resources/storage_server").is_none());
    }
}

#[test]
fn volumes_map_to_vdb_vdc_in_requirement_order() {
    let mut vnfd = common::vnfd();
    let fl = vnfd.flavours.get_mut("simple").expect("simple");
    let mut second = fl.volumes["storage_server_volume"].clone();
    second.name = "data_volume".into();
    second.size_bytes = 1;
    fl.volumes.insert("data_volume".into(), second);
    fl.vdus["storage_server"]
        .virtual_storages
        .push("data_volume".into());
    let b = generate(&vnfd, "simple", None, &common::simple_request()).expect("generates");
    clean(&b);
    let bdm = &b.top.0["resources"]["storage_server"]["properties"]["block_device_mapping_v2"];
    assert_eq!(bdm[0]["device_name"], "vdb");
    assert_eq!(
        bdm[0]["volume_id"],
        json!({"get_resource": "storage_server_volume"})
    );
    assert_eq!(bdm[1]["device_name"], "vdc");
    assert_eq!(bdm[1]["volume_id"], json!({"get_resource": "data_volume"}));
    assert_eq!(b.top.0["resources"]["data_volume"]["properties"]["size"], 1);
}

#[test]
fn capacities_follow_the_instantiation_level() {
    let vnfd = common::vnfd();
    let req = common::simple_request();
    let l1 = generate(&vnfd, "simple", Some("instantiation_level_1"), &req).expect("level 1");
    let l2 = generate(&vnfd, "simple", Some("instantiation_level_2"), &req).expect("level 2");
    let cap =
        |b: &HotBundle, a: &str| b.top.0["resources"][a]["properties"]["desired_capacity"].clone();
    assert_eq!(cap(&l1, "worker_instance"), 2);
    assert_eq!(cap(&l2, "worker_instance"), 4);
    assert_eq!(cap(&l2, "master_instance"), 1);
    clean(&l2);

    // The request's instantiationLevelId is used when no level is given.
    let mut req2 = req.clone();
    req2.instantiation_level_id = Some("instantiation_level_2".into());
    let from_req = generate(&vnfd, "simple", None, &req2).expect("request level");
    assert_eq!(cap(&from_req, "worker_instance"), 4);
    // An explicit level wins over the request.
    let explicit =
        generate(&vnfd, "simple", Some("instantiation_level_1"), &req2).expect("explicit");
    assert_eq!(cap(&explicit, "worker_instance"), 2);
}

#[test]
fn complex_flavour_has_vip_and_anti_affinity() {
    let vnfd = common::vnfd();
    let b = generate(&vnfd, "complex", None, &common::complex_request()).expect("generates");
    clean(&b);
    let (top, files) = round_trip(&b);

    let asg = res(&top, "master_instance");
    assert_eq!(asg["properties"]["min_size"], 3);
    assert_eq!(asg["properties"]["max_size"], 5);
    assert_eq!(asg["properties"]["desired_capacity"], 3);

    // VIP port on the masters' network, its address passed into the master members.
    let vip = res(&top, "vip_CP");
    assert_eq!(vip["type"], "OS::Neutron::Port");
    assert_eq!(
        vip["properties"]["network"],
        json!({"get_param": ["nfv", "CP", "masterNode_CP1", "network"]})
    );
    let rp = &asg["properties"]["resource"]["properties"];
    assert_eq!(
        rp["vip_port_ip"],
        json!({"get_attr": ["vip_CP", "fixed_ips", 0, "ip_address"]})
    );
    let master = nested(&files, "nested/master_instance.yaml");
    assert_eq!(master["parameters"]["vip_port_ip"]["type"], "string");
    assert_eq!(
        res(master, "masterNode_CP1")["properties"]["allowed_address_pairs"],
        json!([{"ip_address": {"get_param": "vip_port_ip"}}])
    );
    // Workers get no VIP.
    let worker = nested(&files, "nested/worker_instance.yaml");
    assert!(worker["parameters"].get("vip_port_ip").is_none());
    assert!(
        res(worker, "workerNode_CP2")["properties"]
            .get("allowed_address_pairs")
            .is_none()
    );
    assert!(
        top["resources"]["worker_instance"]["properties"]["resource"]["properties"]
            .get("vip_port_ip")
            .is_none()
    );

    // Anti-affinity server group, wired through the ASG into the master servers only.
    let sg = res(&top, "master_anti_affinity");
    assert_eq!(sg["type"], "OS::Nova::ServerGroup");
    assert_eq!(sg["properties"]["policies"], json!(["anti-affinity"]));
    assert_eq!(
        rp["scheduler_hints"],
        json!({"get_resource": "master_anti_affinity"})
    );
    assert_eq!(
        res(master, "masterNode")["properties"]["scheduler_hints"],
        json!({"group": {"get_param": "scheduler_hints"}})
    );
    assert!(
        res(worker, "workerNode")["properties"]
            .get("scheduler_hints")
            .is_none()
    );
}

#[test]
fn affinity_rule_on_an_unscaled_vdu_is_a_direct_scheduler_hint() {
    let mut vnfd = common::vnfd();
    let fl = vnfd.flavours.get_mut("simple").expect("simple");
    fl.placement_rules.push(vnf_package::vnfd::PlacementRule {
        name: "storage_affinity".into(),
        kind: vnf_package::vnfd::PlacementKind::Affinity,
        scope: "nfvi_node".into(),
        targets: vec!["storage_server".into()],
        location: Default::default(),
    });
    let b = generate(&vnfd, "simple", None, &common::simple_request()).expect("generates");
    clean(&b);
    assert_eq!(
        b.top.0["resources"]["storage_affinity"]["properties"]["policies"],
        json!(["affinity"])
    );
    assert_eq!(
        b.top.0["resources"]["storage_server"]["properties"]["scheduler_hints"],
        json!({"group": {"get_resource": "storage_affinity"}})
    );
}

#[test]
fn parameters_hold_the_nfv_value() {
    let vnfd = common::vnfd();
    let b = generate(&vnfd, "simple", None, &common::simple_request()).expect("generates");
    let nfv = &b.parameters["nfv"];
    assert_eq!(nfv["VDU"]["masterNode"]["flavor"], "m1.medium");
    assert_eq!(nfv["CP"]["storage_server_CP"]["network"], common::NET);
    let json = serde_json::to_value(&b).expect("serialises");
    assert_eq!(json["parameters"]["nfv"], *nfv);
    assert!(json["files"]["nested/worker_instance.yaml"]["resources"]["workerNode"].is_object());
}

#[test]
fn output_is_deterministic() {
    let vnfd = common::vnfd();
    let a = generate(&vnfd, "complex", None, &common::complex_request()).expect("a");
    let b = generate(&vnfd, "complex", None, &common::complex_request()).expect("b");
    assert_eq!(a.top_yaml().expect("a"), b.top_yaml().expect("b"));
    let yaml = a.top_yaml().expect("a");
    // Key order is the emission order: version first, resources last.
    let v = yaml.find("heat_template_version").expect("version");
    let r = yaml.find("resources:").expect("resources");
    assert!(v < r);
}

#[test]
fn write_to_lays_out_top_nested_and_parameters() {
    let vnfd = common::vnfd();
    let b = generate(&vnfd, "simple", None, &common::simple_request()).expect("generates");
    let dir = tempfile::tempdir().expect("tempdir");
    b.write_to(dir.path()).expect("writes");
    let top = std::fs::read_to_string(dir.path().join("top.yaml")).expect("top.yaml");
    let parsed: Value = serde_saphyr::from_str(&top).expect("parses");
    assert_eq!(parsed, b.top.0);
    let nested =
        std::fs::read_to_string(dir.path().join("nested/worker_instance.yaml")).expect("nested");
    assert!(nested.contains("workerNode_CP2"));
    let params: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("parameters.json")).expect("params"),
    )
    .expect("json");
    assert_eq!(params["nfv"], b.parameters["nfv"]);
}

fn err_code(r: Result<HotBundle, HotError>) -> &'static str {
    r.expect_err("must fail").code().id
}

#[test]
fn errors_name_what_is_wrong() {
    let vnfd = common::vnfd();
    let req = common::simple_request();

    let e = generate(&vnfd, "nope", None, &req).expect_err("flavour");
    assert_eq!(e.code(), codes::FLAVOUR_UNKNOWN);
    assert!(e.to_string().contains("nope") && e.to_string().contains("simple"));

    let e = generate(&vnfd, "simple", Some("level_9"), &req).expect_err("level");
    assert_eq!(e.code(), codes::LEVEL_UNKNOWN);
    assert!(e.to_string().contains("level_9"));

    // A CP missing from the request.
    let mut r2 = req.clone();
    r2.ext_virtual_links.retain(|vl| vl.id != "net0_storage");
    let e = generate(&vnfd, "simple", None, &r2).expect_err("cp");
    assert_eq!(e.code(), codes::REQUEST_CP_MISSING);
    assert!(e.to_string().contains("storage_server_CP"));

    // An aspect scaling two VDUs.
    let mut v2 = common::vnfd();
    let fl = v2.flavours.get_mut("simple").expect("simple");
    let extra = fl.aspects["master_instance"].vdu_deltas["masterNode"].clone();
    fl.aspects["master_instance"]
        .vdu_deltas
        .insert("workerNode".into(), extra);
    let e = generate(&v2, "simple", None, &req).expect_err("multi");
    assert_eq!(e.code(), codes::ASPECT_MULTIPLE_VDUS);
    assert!(e.to_string().contains("master_instance"));

    // Level beyond vdu_profile.
    let mut v3 = common::vnfd();
    let fl = v3.flavours.get_mut("simple").expect("simple");
    fl.instantiation_levels["instantiation_level_2"]
        .scale_info
        .insert("worker_instance".into(), 5);
    assert_eq!(
        err_code(generate(&v3, "simple", Some("instantiation_level_2"), &req)),
        codes::CAPACITY_OUT_OF_RANGE.id
    );

    // VIP requested with a single master.
    assert_eq!(
        err_code(generate(
            &vnfd,
            "simple",
            None,
            &common::request("simple", "vip_CP")
        )),
        codes::VIP_SINGLE_MASTER.id
    );

    // Unsupported placement scope.
    let mut v4 = common::vnfd();
    v4.flavours
        .get_mut("complex")
        .expect("complex")
        .placement_rules[0]
        .scope = "zone".into();
    assert_eq!(
        err_code(generate(&v4, "complex", None, &common::complex_request())),
        codes::PLACEMENT_UNSUPPORTED_SCOPE.id
    );

    // A fixed address on a CP of a scalable VDU.
    let mut r5 = common::request_json("simple", "masterNode_CP1");
    r5["extVirtualLinks"][1]["extCps"][0]["cpConfig"][0]["cpProtocolData"][0]["ipOverEthernet"] =
        json!({"ipAddresses": [{"type": "IPV4", "fixedAddresses": ["10.0.0.5"]}]});
    let r5 = serde_json::from_value(r5).expect("request");
    let e = generate(&vnfd, "simple", None, &r5).expect_err("fixed");
    assert_eq!(e.code(), codes::FIXED_ADDRESS_ON_SCALED_CP);
    assert!(e.to_string().contains("workerNode_CP2") && e.to_string().contains("10.0.0.5"));

    // A resource name used twice.
    let mut v6 = common::vnfd();
    v6.flavours
        .get_mut("complex")
        .expect("complex")
        .placement_rules[0]
        .name = "storage_server".into();
    assert_eq!(
        err_code(generate(&v6, "complex", None, &common::complex_request())),
        codes::NAME_COLLISION.id
    );

    // An unscaled VDU needing two instances.
    let mut v7 = common::vnfd();
    v7.flavours.get_mut("simple").expect("simple").vdus["storage_server"].initial_delta = 2;
    assert_eq!(
        err_code(generate(&v7, "simple", None, &req)),
        codes::VDU_INSTANCES_WITHOUT_ASPECT.id
    );
}

#[test]
fn every_error_code_is_declared() {
    let all = hot_templates::all_codes();
    for c in [
        codes::FLAVOUR_UNKNOWN,
        codes::REQUEST_CP_MISSING,
        codes::TEMPLATE_FILE_MISSING,
    ] {
        assert!(all.contains(&c));
    }
    let mut ids: Vec<&str> = all.iter().map(|c| c.id).collect();
    ids.sort_unstable();
    let n = ids.len();
    ids.dedup();
    assert_eq!(ids.len(), n, "duplicate code ids");
    assert!(
        all.iter()
            .all(|c| c.id.starts_with("hot.") && !c.summary.is_empty())
    );
}

#[test]
fn template_from_yaml_reports_position() {
    let e = Template::from_yaml("x.yaml", "a: 1\n  b: [\n").expect_err("bad yaml");
    assert_eq!(e.file, "x.yaml");
    assert_eq!(e.line, Some(2));
}

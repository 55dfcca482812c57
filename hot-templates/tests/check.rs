//! The template-grammar checker: generated bundles are clean; each hand-made breakage is
//! caught with its code and location.

mod common;

use hot_templates::{HotBundle, Template, check_bundle, check_template, codes, generate};
use indexmap::IndexMap;
use serde_json::{Value, json};
use vnf_package::{Code, Report};

fn bundle() -> HotBundle {
    generate(&common::vnfd(), "complex", None, &common::complex_request()).expect("generates")
}

/// Applies `f` to the bundle and returns the findings of `check_bundle`.
fn broken(f: impl FnOnce(&mut HotBundle)) -> Report {
    let mut b = bundle();
    f(&mut b);
    let mut r = Report::new();
    check_bundle(&b, &mut r);
    r
}

fn assert_has(r: &Report, code: Code, pointer: &str) {
    assert!(
        r.findings
            .iter()
            .any(|f| f.code == code && f.location.pointer.as_deref() == Some(pointer)),
        "expected {code} at {pointer}, got {:#?}",
        r.findings
    );
}

fn top_res<'a>(b: &'a mut HotBundle, name: &str) -> &'a mut Value {
    b.top
        .0
        .pointer_mut(&format!("/resources/{name}"))
        .expect("resource")
}

#[test]
fn generated_bundles_are_clean() {
    for (fl, req) in [
        ("simple", common::simple_request()),
        ("complex", common::complex_request()),
    ] {
        for level in ["instantiation_level_1", "instantiation_level_2"] {
            let b = generate(&common::vnfd(), fl, Some(level), &req).expect("generates");
            let mut r = Report::new();
            check_bundle(&b, &mut r);
            assert!(r.findings.is_empty(), "{fl}/{level}: {:#?}", r.findings);
        }
    }
}

#[test]
fn misspelled_get_param_is_flagged() {
    let r = broken(|b| {
        top_res(b, "vip_CP")["properties"]["network"] =
            json!({"get_parm": ["nfv", "CP", "x", "network"]});
    });
    assert_has(
        &r,
        codes::TEMPLATE_UNKNOWN_FUNCTION,
        "/resources/vip_CP/properties/network/get_parm",
    );
}

#[test]
fn undeclared_parameter_is_flagged() {
    let r = broken(|b| {
        top_res(b, "vip_CP")["properties"]["network"] = json!({"get_param": ["nfw", "CP", "x"]});
    });
    assert_has(
        &r,
        codes::TEMPLATE_UNDECLARED_PARAMETER,
        "/resources/vip_CP/properties/network/get_param/0",
    );
    let r = broken(|b| {
        let n = b
            .files
            .get_mut("nested/worker_instance.yaml")
            .expect("nested");
        n.0["resources"]["workerNode"]["properties"]["image"] = json!({"get_param": "img"});
    });
    assert_has(
        &r,
        codes::TEMPLATE_UNDECLARED_PARAMETER,
        "/resources/workerNode/properties/image/get_param",
    );
}

#[test]
fn bad_function_shapes_are_flagged() {
    let r = broken(|b| {
        top_res(b, "vip_CP")["properties"]["network"] = json!({"get_param": 5});
    });
    assert_has(
        &r,
        codes::TEMPLATE_BAD_FUNCTION,
        "/resources/vip_CP/properties/network/get_param",
    );

    let r = broken(|b| {
        top_res(b, "master_instance")["properties"]["resource"]["properties"]["vip_port_ip"] =
            json!({"get_attr": ["vip_CP"]});
    });
    assert_has(
        &r,
        codes::TEMPLATE_BAD_FUNCTION,
        "/resources/master_instance/properties/resource/properties/vip_port_ip/get_attr",
    );

    let r = broken(|b| {
        top_res(b, "vip_CP")["properties"]["name"] = json!({"str_replace": {"template": "x"}});
    });
    assert_has(
        &r,
        codes::TEMPLATE_BAD_FUNCTION,
        "/resources/vip_CP/properties/name/str_replace",
    );

    let r = broken(|b| {
        b.top.0["heat_template_version"] = json!("2016-10-14");
        top_res(b, "vip_CP")["properties"]["name"] = json!({"list_join": ["-"]});
    });
    assert_has(
        &r,
        codes::TEMPLATE_BAD_FUNCTION,
        "/resources/vip_CP/properties/name/list_join",
    );

    let r = broken(|b| {
        top_res(b, "master_instance_scale_out")["properties"]["auto_scaling_group_id"] =
            json!({"get_resource": ["master_instance"]});
    });
    assert_has(
        &r,
        codes::TEMPLATE_BAD_FUNCTION,
        "/resources/master_instance_scale_out/properties/auto_scaling_group_id/get_resource",
    );
}

#[test]
fn function_newer_than_the_template_version_is_flagged() {
    let r = broken(|b| {
        top_res(b, "vip_CP")["properties"]["name"] = json!({"list_join": ["-", ["a", "b"]]});
    });
    assert_has(
        &r,
        codes::TEMPLATE_FUNCTION_VERSION,
        "/resources/vip_CP/properties/name/list_join",
    );
    assert!(!r.contains(codes::TEMPLATE_BAD_FUNCTION));
}

#[test]
fn dangling_resource_references_are_flagged() {
    let r = broken(|b| {
        top_res(b, "master_instance_scale_in")["properties"]["auto_scaling_group_id"] =
            json!({"get_resource": "master_group"});
    });
    assert_has(
        &r,
        codes::TEMPLATE_UNKNOWN_RESOURCE,
        "/resources/master_instance_scale_in/properties/auto_scaling_group_id/get_resource",
    );
    let r = broken(|b| {
        top_res(b, "master_instance")["properties"]["resource"]["properties"]["vip_port_ip"] =
            json!({"get_attr": ["vip_port", "fixed_ips", 0, "ip_address"]});
    });
    assert_has(
        &r,
        codes::TEMPLATE_UNKNOWN_RESOURCE,
        "/resources/master_instance/properties/resource/properties/vip_port_ip/get_attr/0",
    );
    let r = broken(|b| {
        top_res(b, "storage_server")["depends_on"] = json!(["storage_server_volume", "ghost"]);
    });
    assert_has(
        &r,
        codes::TEMPLATE_UNKNOWN_RESOURCE,
        "/resources/storage_server/depends_on/1",
    );
}

#[test]
fn unknown_types_and_missing_files_are_flagged() {
    let r = broken(|b| {
        top_res(b, "vip_CP")["type"] = json!("OS::Neutron::Prot");
    });
    assert_has(&r, codes::TEMPLATE_UNKNOWN_TYPE, "/resources/vip_CP/type");

    let r = broken(|b| {
        b.files.shift_remove("nested/worker_instance.yaml");
    });
    assert_has(
        &r,
        codes::TEMPLATE_FILE_MISSING,
        "/resources/worker_instance/properties/resource/type",
    );

    let r = broken(|b| {
        let t = b.files["nested/worker_instance.yaml"].clone();
        b.files.insert("nested/orphan.yaml".into(), t);
    });
    assert!(r.contains(codes::TEMPLATE_FILE_UNREFERENCED));
    assert!(r.ok(), "an unused file is a warning");
}

#[test]
fn nested_parameters_must_match_passed_properties() {
    let r = broken(|b| {
        top_res(b, "worker_instance")["properties"]["resource"]["properties"]
            .as_object_mut()
            .expect("props")
            .insert("net1".into(), json!("x"));
    });
    assert_has(
        &r,
        codes::TEMPLATE_NESTED_UNKNOWN_PROPERTY,
        "/resources/worker_instance/properties/resource/properties/net1",
    );
    let r = broken(|b| {
        top_res(b, "worker_instance")["properties"]["resource"]["properties"]
            .as_object_mut()
            .expect("props")
            .shift_remove("image");
    });
    assert_has(
        &r,
        codes::TEMPLATE_NESTED_MISSING_PROPERTY,
        "/resources/worker_instance/properties/resource/type",
    );
}

#[test]
fn structure_errors_are_flagged() {
    let r = broken(|b| {
        b.top.0["resource"] = json!({});
        b.top.0["heat_template_version"] = json!("2012-12-12");
        b.top.0["parameters"]["nfv"]["type"] = json!("map");
        top_res(b, "vip_CP")["propertes"] = json!({});
    });
    assert_has(&r, codes::TEMPLATE_UNKNOWN_SECTION, "/resource");
    assert_has(&r, codes::TEMPLATE_VERSION, "/heat_template_version");
    assert_has(&r, codes::TEMPLATE_BAD_PARAMETER, "/parameters/nfv/type");
    assert_has(
        &r,
        codes::TEMPLATE_BAD_RESOURCE,
        "/resources/vip_CP/propertes",
    );

    let mut r = Report::new();
    check_template(
        "x.yaml",
        &Template(json!(["not", "a", "map"])),
        &IndexMap::new(),
        &mut r,
    );
    assert!(r.contains(codes::TEMPLATE_NOT_MAPPING));
}

#[test]
fn findings_name_the_file() {
    let r = broken(|b| {
        let n = b
            .files
            .get_mut("nested/master_instance.yaml")
            .expect("nested");
        n.0["resources"]["masterNode"]["properties"]["networks"][0]["port"] =
            json!({"get_resource": "masterNode_CP9"});
    });
    let f = r
        .findings
        .iter()
        .find(|f| f.code == codes::TEMPLATE_UNKNOWN_RESOURCE)
        .expect("finding");
    assert_eq!(
        f.location.file.as_deref(),
        Some("nested/master_instance.yaml")
    );
    assert!(f.message.contains("masterNode_CP9"));
}

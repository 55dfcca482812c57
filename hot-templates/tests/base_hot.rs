//! `check_base_hot` on a Tacker-style BaseHOT for the `simple` flavour (with the seed
//! guide's storage-server fragment), and on hand-broken variants of it.

mod common;

use hot_templates::{check_base_hot, codes};
use vnf_package::{Code, Report};

const TOP: &str = include_str!("data/BaseHOT/simple/simple_hot_top.yaml");
const MASTER: &str = include_str!("data/BaseHOT/simple/nested/simple_nested_master.yaml");
const WORKER: &str = include_str!("data/BaseHOT/simple/nested/simple_nested_worker.yaml");
const TOP_PATH: &str = "BaseHOT/simple/simple_hot_top.yaml";
const MASTER_PATH: &str = "BaseHOT/simple/nested/simple_nested_master.yaml";
const WORKER_PATH: &str = "BaseHOT/simple/nested/simple_nested_worker.yaml";

fn files(top: &str, master: &str, worker: &str) -> Vec<(String, String)> {
    vec![
        ("Definitions/x.yaml".into(), "not: checked".into()),
        (TOP_PATH.into(), top.into()),
        (MASTER_PATH.into(), master.into()),
        (WORKER_PATH.into(), worker.into()),
    ]
}

fn check(files: &[(String, String)]) -> Report {
    let mut r = Report::new();
    check_base_hot(files, &common::vnfd(), "simple", &mut r);
    r
}

/// 1-based line of the first occurrence of `needle` in `text`.
fn line_of(text: &str, needle: &str) -> u32 {
    let idx = text
        .find(needle)
        .unwrap_or_else(|| panic!("{needle} not in text"));
    u32::try_from(
        text[..idx].lines().count() + usize::from(text[..idx].ends_with('\n') || idx == 0),
    )
    .expect("small")
    .max(1)
}

fn assert_finding(r: &Report, code: Code, file: &str, line: Option<u32>) {
    assert!(
        r.findings.iter().any(|f| f.code == code
            && f.location.file.as_deref() == Some(file)
            && (line.is_none() || f.location.line == line)),
        "expected {code} in {file} at {line:?}, got {:#?}",
        r.findings
    );
}

fn replace(text: &str, from: &str, to: &str) -> String {
    assert!(text.contains(from), "fixture lacks {from}");
    text.replacen(from, to, 1)
}

#[test]
fn tacker_style_base_hot_with_seed_storage_fragment_passes() {
    let r = check(&files(TOP, MASTER, WORKER));
    assert!(r.findings.is_empty(), "{:#?}", r.findings);
}

#[test]
fn no_base_hot_means_nothing_to_check() {
    let r = check(&[("Definitions/x.yaml".into(), "a: 1".into())]);
    assert!(r.findings.is_empty());
    // Another flavour's BaseHOT is not this flavour's.
    let mut r = Report::new();
    check_base_hot(
        &files(TOP, MASTER, WORKER),
        &common::vnfd(),
        "complex",
        &mut r,
    );
    assert!(r.findings.is_empty());
}

#[test]
fn server_not_named_after_its_vdu() {
    let top = replace(
        TOP,
        "  storage_server:\n    type: OS::Nova::Server",
        "  storage_vm:\n    type: OS::Nova::Server",
    );
    let r = check(&files(&top, MASTER, WORKER));
    assert_finding(
        &r,
        codes::BASE_SERVER_NOT_VDU,
        TOP_PATH,
        Some(line_of(&top, "  storage_vm:")),
    );
    assert_finding(&r, codes::BASE_VDU_SERVER_MISSING, TOP_PATH, None);
    let f = r
        .findings
        .iter()
        .find(|f| f.code == codes::BASE_VDU_SERVER_MISSING)
        .expect("missing");
    assert!(f.message.contains("storage_server"));
}

#[test]
fn port_not_named_after_a_cp() {
    let master = MASTER
        .replace("get_resource: masterNode_CP1", "get_resource: port1")
        .replace("  masterNode_CP1:", "  port1:");
    let r = check(&files(TOP, &master, WORKER));
    assert_finding(
        &r,
        codes::BASE_PORT_NOT_CP,
        MASTER_PATH,
        Some(line_of(&master, "  port1:")),
    );
    assert_finding(&r, codes::BASE_CP_PORT_MISSING, MASTER_PATH, None);
}

#[test]
fn port_not_attached_to_its_server() {
    let master = replace(
        MASTER,
        "      networks:\n      - port:\n          get_resource: masterNode_CP1\n",
        "",
    );
    let r = check(&files(TOP, &master, WORKER));
    assert_finding(&r, codes::BASE_CP_NOT_ATTACHED, MASTER_PATH, None);
}

#[test]
fn asg_not_named_after_an_aspect() {
    let top = TOP.replace("worker_instance", "workers");
    let r = check(&files(&top, MASTER, WORKER));
    assert_finding(
        &r,
        codes::BASE_ASG_NOT_ASPECT,
        TOP_PATH,
        Some(line_of(&top, "  workers:")),
    );
    assert_finding(&r, codes::BASE_ASG_MISSING, TOP_PATH, None);
    assert!(
        r.findings
            .iter()
            .any(|f| f.message.contains("worker_instance"))
    );
}

#[test]
fn scaling_policy_adjustment_must_be_the_delta() {
    let top = replace(
        TOP,
        "      scaling_adjustment: -1\n      auto_scaling_group_id:\n        get_resource: worker_instance",
        "      scaling_adjustment: -2\n      auto_scaling_group_id:\n        get_resource: worker_instance",
    );
    let r = check(&files(&top, MASTER, WORKER));
    assert_finding(
        &r,
        codes::BASE_SCALING_ADJUSTMENT,
        TOP_PATH,
        Some(line_of(&top, "scaling_adjustment: -2")),
    );
    let top = replace(
        TOP,
        "  master_instance_scale_in:",
        "  master_instance_shrink:",
    );
    let r = check(&files(&top, MASTER, WORKER));
    assert_finding(&r, codes::BASE_SCALING_POLICY, TOP_PATH, None);
}

#[test]
fn asg_size_mismatch_is_a_warning() {
    let top = replace(TOP, "      max_size: 4", "      max_size: 6");
    let r = check(&files(&top, MASTER, WORKER));
    assert_finding(
        &r,
        codes::BASE_ASG_SIZE_MISMATCH,
        TOP_PATH,
        Some(line_of(&top, "max_size: 6")),
    );
    assert!(r.ok());
}

#[test]
fn nfv_reference_to_unknown_cp_and_vdu() {
    let top = replace(
        TOP,
        "[ nfv, CP, storage_server_CP, network ]",
        "[ nfv, CP, storage_CP, network ]",
    );
    let r = check(&files(&top, MASTER, WORKER));
    assert_finding(
        &r,
        codes::BASE_NFV_UNKNOWN_CP,
        TOP_PATH,
        Some(line_of(&top, "storage_CP, network")),
    );
    let top = replace(
        TOP,
        "[ nfv, VDU, masterNode, image ]",
        "[ nfv, VDU, master, image ]",
    );
    let r = check(&files(&top, MASTER, WORKER));
    assert_finding(
        &r,
        codes::BASE_NFV_UNKNOWN_VDU,
        TOP_PATH,
        Some(line_of(&top, "master, image")),
    );
    let top = replace(
        TOP,
        "[ nfv, VDU, masterNode, image ]",
        "[ nfv, VDU, masterNode ]",
    );
    let r = check(&files(&top, MASTER, WORKER));
    assert_finding(&r, codes::BASE_NFV_BAD_PATH, TOP_PATH, None);
    let top = replace(
        TOP,
        "[ nfv, VDU, masterNode, image ]",
        "[ nfv, VDU, masterNode, img ]",
    );
    let r = check(&files(&top, MASTER, WORKER));
    assert_finding(&r, codes::BASE_NFV_BAD_PATH, TOP_PATH, None);
}

#[test]
fn nested_file_referenced_but_missing() {
    let mut f = files(TOP, MASTER, WORKER);
    f.retain(|(p, _)| p != WORKER_PATH);
    let r = check(&f);
    assert_finding(
        &r,
        codes::TEMPLATE_FILE_MISSING,
        TOP_PATH,
        Some(line_of(TOP, "type: simple_nested_worker.yaml")),
    );
}

#[test]
fn volume_must_be_attached_and_present() {
    let top = replace(
        TOP,
        "      block_device_mapping_v2:\n      - device_name: vdb\n        volume_id: { get_resource: storage_server_volume }\n        boot_index: -1\n",
        "",
    );
    let r = check(&files(&top, MASTER, WORKER));
    assert_finding(&r, codes::BASE_VOLUME_NOT_ATTACHED, TOP_PATH, None);
    let top = TOP.replace("storage_server_volume", "data");
    let r = check(&files(&top, MASTER, WORKER));
    assert_finding(&r, codes::BASE_VOLUME_MISSING, TOP_PATH, None);
    assert_finding(
        &r,
        codes::BASE_VOLUME_NOT_VBS,
        TOP_PATH,
        Some(line_of(&top, "  data:")),
    );
}

#[test]
fn scaled_vdu_in_top_and_unscaled_vdu_nested_are_flagged() {
    // The worker server moved into the top template (and out of its nested file).
    let top = TOP.replace(
        "  # From the PV",
        "  workerNode:\n    type: OS::Nova::Server\n    properties:\n      flavor: x\n      image: y\n  # From the PV",
    );
    let worker = WORKER.replace("  workerNode:\n", "  other:\n");
    let r = check(&files(&top, MASTER, &worker));
    assert_finding(
        &r,
        codes::BASE_VDU_OUTSIDE_GROUP,
        TOP_PATH,
        Some(line_of(&top, "  workerNode:")),
    );
}

#[test]
fn yaml_syntax_error_has_a_line() {
    let master = MASTER.replace("  image:\n    type: string", "  image:\n    type: [string");
    let r = check(&files(TOP, &master, WORKER));
    let f = r
        .findings
        .iter()
        .find(|f| f.code == codes::YAML_SYNTAX)
        .expect("syntax");
    assert_eq!(f.location.file.as_deref(), Some(MASTER_PATH));
    assert!(f.location.line.is_some());
}

#[test]
fn grammar_findings_carry_lines_in_base_hot() {
    let top = replace(
        TOP,
        "        get_resource: master_instance\n      adjustment_type: change_in_capacity\n\n  master_instance_scale_in",
        "        get_resouce: master_instance\n      adjustment_type: change_in_capacity\n\n  master_instance_scale_in",
    );
    let r = check(&files(&top, MASTER, WORKER));
    assert_finding(
        &r,
        codes::TEMPLATE_UNKNOWN_FUNCTION,
        TOP_PATH,
        Some(line_of(&top, "get_resouce")),
    );
}

#[test]
fn missing_top_template_and_several_tops() {
    let f: Vec<(String, String)> = vec![(MASTER_PATH.into(), MASTER.into())];
    let r = check(&f);
    assert!(r.contains(codes::BASE_NO_TOP));
    let mut f = files(TOP, MASTER, WORKER);
    f.push(("BaseHOT/simple/old_top.yml".into(), TOP.into()));
    let r = check(&f);
    assert!(r.contains(codes::BASE_MULTIPLE_TOP));
}

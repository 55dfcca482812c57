//! Unit tests of the request checks, one or more per rule, on the sample request mutated.

use crate as pkg;
#[path = "../../tests/data/request/support.rs"]
mod support;

use super::codes;
use super::*;
use crate::diag::{Report, Severity};
use serde_json::{Value, json};

const SIMPLE_PV: &str = include_str!("../../../samples/requests/instantiate_simple_pv.json");
const MINIMAL: &str = include_str!("../../../samples/requests/instantiate_simple_minimal.json");
const K: &str = "/additionalParams/k8s_cluster_installation_param";

fn base() -> Value {
    serde_json::from_str(SIMPLE_PV).expect("sample parses")
}

fn set(v: &mut Value, pointer: &str, new: Value) {
    let (parent, key) = pointer.rsplit_once('/').expect("pointer");
    let p = v.pointer_mut(parent).expect("parent exists");
    match p {
        Value::Object(m) => {
            m.insert(key.to_string(), new);
        }
        Value::Array(a) => {
            let i: usize = key.parse().expect("index");
            if i == a.len() {
                a.push(new);
            } else {
                a[i] = new;
            }
        }
        _ => panic!("not a container"),
    }
}

fn remove(v: &mut Value, pointer: &str) {
    let (parent, key) = pointer.rsplit_once('/').expect("pointer");
    match v.pointer_mut(parent).expect("parent exists") {
        Value::Object(m) => {
            m.shift_remove(key);
        }
        Value::Array(a) => {
            a.remove(key.parse::<usize>().expect("index"));
        }
        _ => panic!("not a container"),
    }
}

fn run(v: &Value) -> Report {
    let text = serde_json::to_string_pretty(v).expect("serializes");
    let src = RequestSource::new("req.json", text);
    let files = support::sample_files();
    let vnfd = support::sample_vnfd();
    let mut r = Report::new();
    validate(
        &src,
        Some(PackageContext {
            files: &files,
            vnfd: &vnfd,
        }),
        &mut r,
    );
    r
}

/// The only error codes of a run, plus the pointers of the findings with `code`.
fn errors(r: &Report) -> Vec<&'static str> {
    r.error_codes()
}

fn pointers(r: &Report, code: crate::diag::Code) -> Vec<String> {
    r.findings
        .iter()
        .filter(|f| f.code == code)
        .filter_map(|f| f.location.pointer.clone())
        .collect()
}

fn mutated(f: impl FnOnce(&mut Value)) -> Report {
    let mut v = base();
    f(&mut v);
    run(&v)
}

#[test]
fn sample_is_valid_with_host_bits_warning() {
    let r = run(&base());
    assert!(r.ok(), "{:#?}", r.findings);
    assert_eq!(
        pointers(&r, codes::CIDR_HOST_BITS),
        vec![format!("{K}/master_node/pod_cidr")]
    );
    assert!(
        r.findings
            .iter()
            .any(|f| f.message.contains("192.168.0.0/16"))
    );
}

#[test]
fn minimal_sample_is_clean() {
    let v: Value = serde_json::from_str(MINIMAL).expect("parses");
    let r = run(&v);
    assert!(r.findings.is_empty(), "{:#?}", r.findings);
}

#[test]
fn unknown_flavour_and_level() {
    let r = mutated(|v| set(v, "/flavourId", json!("large")));
    assert_eq!(errors(&r), vec![codes::UNKNOWN_FLAVOUR.id]);
    let f = r
        .findings
        .iter()
        .find(|f| f.code == codes::UNKNOWN_FLAVOUR)
        .expect("finding");
    assert!(f.message.contains("simple, complex"), "{}", f.message);
    assert_eq!(f.location.pointer.as_deref(), Some("/flavourId"));
    let r = mutated(|v| set(v, "/instantiationLevelId", json!("level_x")));
    assert_eq!(errors(&r), vec![codes::UNKNOWN_LEVEL.id]);
    let r = mutated(|v| set(v, "/instantiationLevelId", json!("instantiation_level_2")));
    assert!(r.ok());
}

#[test]
fn files_must_be_in_package_and_relative() {
    let r = mutated(|v| set(v, &format!("{K}/script_path"), json!("Scripts/missing.sh")));
    assert_eq!(errors(&r), vec![codes::FILE_MISSING.id]);
    let r = mutated(|v| {
        set(
            v,
            &format!("{K}/script_path"),
            json!("./Scripts//install_k8s_cluster.sh"),
        )
    });
    assert!(r.ok(), "{:?}", r.findings);
    let r = mutated(|v| {
        set(
            v,
            &format!("{K}/helm_installation_script_path"),
            json!("../x.sh"),
        )
    });
    assert_eq!(errors(&r), vec![codes::PATH_INVALID.id]);
    let r = mutated(|v| {
        set(
            v,
            &format!("{K}/helm_installation_script_path"),
            json!("/opt/x.sh"),
        )
    });
    assert_eq!(errors(&r), vec![codes::PATH_INVALID.id]);
    let r = mutated(|v| {
        set(
            v,
            &format!("{K}/private_registry_connection_info"),
            json!([{"connection_type": 1, "server": "r.example.com:5000", "certificate_path": "Files/ca.crt"}]),
        )
    });
    assert_eq!(errors(&r), vec![codes::FILE_MISSING.id]);
    let r = mutated(|v| {
        set(
            v,
            &format!("{K}/master_node/ssh_private_key_path"),
            json!("Files/id_ed25519"),
        )
    });
    assert_eq!(errors(&r), vec![codes::FILE_MISSING.id]);
    let r = mutated(|v| {
        set(
            v,
            &format!("{K}/master_node/ssh_private_key_path"),
            json!("/etc/vnf-mgmt/id_ed25519"),
        )
    });
    assert!(r.ok(), "{:?}", r.findings);
}

#[test]
fn pv_manifests_are_checked() {
    let pv1 = format!("{K}/pv_registration_params/0/pv_manifest_file_path");
    let r = mutated(|v| set(v, &pv1, json!("Definitions/sample_kubernetes_types.yaml")));
    assert_eq!(errors(&r), vec![codes::PV_MANIFEST_INVALID.id]);
    let f = r
        .findings
        .iter()
        .find(|f| f.code == codes::PV_MANIFEST_INVALID)
        .expect("finding");
    assert_eq!(
        f.location.file.as_deref(),
        Some("Definitions/sample_kubernetes_types.yaml")
    );
    assert!(f.message.contains(&pv1), "{}", f.message);
    let r = mutated(|v| set(v, &pv1, json!("Files/kubernetes/nfs-pv3.yaml")));
    assert_eq!(errors(&r), vec![codes::FILE_MISSING.id]);
    let r = mutated(|v| set(v, &pv1, json!("Files/kubernetes/nfs-pv2.yaml")));
    assert_eq!(errors(&r), vec![codes::PV_DUPLICATE_NAME.id]);
    // pv2's path is no longer exported.
    let r = mutated(|v| remove(v, &format!("{K}/storage_server/nfs_server_setup_params/1")));
    assert_eq!(errors(&r), vec![codes::PV_PATH_NOT_EXPORTED.id]);
}

#[test]
fn parse_pv_rules() {
    let ok = support::pv_yaml("nfs-pv1", "1Gi", "/volume/nfs/pv1");
    let pv = parse_pv(&ok).expect("valid");
    assert_eq!(
        (
            pv.name.as_str(),
            pv.nfs_path.as_str(),
            pv.nfs_server.as_str()
        ),
        ("nfs-pv1", "/volume/nfs/pv1", "0.0.0.0")
    );
    let probs = |t: &str| {
        parse_pv(t)
            .expect_err("invalid")
            .into_iter()
            .map(|p| p.0)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        probs(&ok.replace("PersistentVolume", "PersistentVolumeClaim")),
        vec!["/kind"]
    );
    assert_eq!(
        probs(&ok.replace("apiVersion: v1", "apiVersion: v2")),
        vec!["/apiVersion"]
    );
    assert_eq!(
        probs(&ok.replace("\"/volume/nfs/pv1\"", "volume/nfs")),
        vec!["/spec/nfs/path"]
    );
    assert_eq!(
        probs(&ok.replace("name: nfs-pv1", "name: NFS_PV")),
        vec!["/metadata/name"]
    );
    assert_eq!(
        probs(&ok.replace("    server: 0.0.0.0\n", "")),
        vec!["/spec/nfs/server"]
    );
    let bad = parse_pv("a: [1,\n").expect_err("syntax");
    assert!(bad[0].2.is_some(), "syntax errors carry a position");
    assert_eq!(probs("- 1\n"), vec![""]);
}

#[test]
fn cp_names_must_exist() {
    let r = mutated(|v| {
        set(
            v,
            &format!("{K}/worker_node/ssh_cp_name"),
            json!("workerNode_CP9"),
        )
    });
    assert_eq!(errors(&r), vec![codes::UNKNOWN_CP.id]);
    assert_eq!(
        pointers(&r, codes::UNKNOWN_CP),
        vec![format!("{K}/worker_node/ssh_cp_name")]
    );
    let r = mutated(|v| {
        set(
            v,
            &format!("{K}/pv_registration_params/1/nfs_server_cp"),
            json!("nfs_CP"),
        )
    });
    assert_eq!(errors(&r), vec![codes::UNKNOWN_CP.id]);
    let r = mutated(|v| set(v, &format!("{K}/storage_server/nic_cp_name"), json!("x")));
    assert_eq!(errors(&r), vec![codes::UNKNOWN_CP.id]);
}

#[test]
fn vip_cluster_cp_needs_several_masters() {
    // One master (simple): a HOT-only cluster CP is an error.
    let r = mutated(|v| {
        set(
            v,
            &format!("{K}/master_node/cluster_cp_name"),
            json!("vip_CP"),
        )
    });
    assert_eq!(errors(&r), vec![codes::UNKNOWN_CP.id]);
    // Three masters (complex): accepted with an info.
    let r = mutated(|v| {
        set(v, "/flavourId", json!("complex"));
        set(
            v,
            &format!("{K}/master_node/cluster_cp_name"),
            json!("vip_CP"),
        );
    });
    assert!(r.ok(), "{:?}", r.findings);
    let f = r
        .findings
        .iter()
        .find(|f| f.code == codes::CP_HOT_ONLY)
        .expect("info");
    assert_eq!(f.severity, Severity::Info);
    // Not a plausible resource name.
    let r = mutated(|v| {
        set(v, "/flavourId", json!("complex"));
        set(
            v,
            &format!("{K}/master_node/cluster_cp_name"),
            json!("9vip"),
        );
    });
    assert_eq!(errors(&r), vec![codes::UNKNOWN_CP.id]);
}

#[test]
fn aspects_must_scale_the_right_vdu() {
    let r = mutated(|v| set(v, &format!("{K}/master_node/aspect_id"), json!("nope")));
    assert_eq!(errors(&r), vec![codes::UNKNOWN_ASPECT.id]);
    let r = mutated(|v| {
        set(
            v,
            &format!("{K}/master_node/aspect_id"),
            json!("worker_instance"),
        )
    });
    assert_eq!(errors(&r), vec![codes::ASPECT_WRONG_VDU.id]);
    assert!(r.findings.iter().any(|f| f.message.contains("masterNode")));
}

#[test]
fn volumes_must_belong_to_storage_vdu() {
    let p = format!("{K}/storage_server/cinder_volume_setup_params/0/volume_resource_id");
    let r = mutated(|v| set(v, &p, json!("other_volume")));
    assert_eq!(errors(&r), vec![codes::UNKNOWN_VOLUME.id]);
    // Storage server identified through a master CP: the volume is not attached there.
    let r = mutated(|v| {
        set(
            v,
            &format!("{K}/storage_server/nic_cp_name"),
            json!("masterNode_CP1"),
        );
    });
    assert_eq!(errors(&r), vec![codes::VOLUME_NOT_ATTACHED.id]);
}

#[test]
fn ext_cps_exist_and_cover_every_cp() {
    let r = mutated(|v| set(v, "/extVirtualLinks/0/extCps/0/cpdId", json!("ghost_CP")));
    assert_eq!(
        errors(&r),
        vec![codes::EXT_CP_MISSING.id, codes::EXT_CP_UNKNOWN.id]
    );
    assert_eq!(
        pointers(&r, codes::EXT_CP_UNKNOWN),
        vec!["/extVirtualLinks/0/extCps/0/cpdId".to_string()]
    );
    assert!(
        r.findings
            .iter()
            .any(|f| f.code == codes::EXT_CP_MISSING && f.message.contains("masterNode_CP1"))
    );
}

#[test]
fn cidrs_parse_and_do_not_overlap() {
    let m = format!("{K}/master_node");
    let r = mutated(|v| set(v, &format!("{m}/pod_cidr"), json!("192.168.0.0")));
    assert_eq!(errors(&r), vec![codes::CIDR_INVALID.id]);
    let r = mutated(|v| set(v, &format!("{m}/cluster_cidr"), json!("10.1.0.0/99")));
    assert_eq!(errors(&r), vec![codes::CIDR_INVALID.id]);
    let r = mutated(|v| set(v, &format!("{m}/cluster_cidr"), json!("192.168.128.0/20")));
    assert_eq!(errors(&r), vec![codes::CIDR_OVERLAP.id]);
    let r = mutated(|v| {
        set(
            v,
            &format!("{K}/proxy/k8s_node_cidr"),
            json!("10.199.187.128/25"),
        )
    });
    assert_eq!(errors(&r), vec![codes::CIDR_OVERLAP.id]);
    assert_eq!(
        pointers(&r, codes::CIDR_OVERLAP),
        vec![format!("{K}/proxy/k8s_node_cidr")]
    );
    // Defaults count: node network inside the default service CIDR.
    let r = mutated(|v| {
        remove(v, &format!("{m}/cluster_cidr"));
        set(
            v,
            &format!("{K}/proxy/k8s_node_cidr"),
            json!("10.100.0.0/24"),
        );
    });
    assert_eq!(errors(&r), vec![codes::CIDR_OVERLAP.id]);
    assert!(r.findings.iter().any(|f| f.message.contains("(default)")));
    let r = mutated(|v| {
        set(
            v,
            &format!("{K}/proxy/no_proxy"),
            json!("10.0.0.1,10.0.0.0/40"),
        )
    });
    assert_eq!(errors(&r), vec![codes::CIDR_INVALID.id]);
    let r = mutated(|v| set(v, &format!("{K}/proxy/no_proxy"), json!("10.0.0.1,$(id)")));
    assert_eq!(errors(&r), vec![codes::NO_PROXY_INVALID.id]);
}

#[test]
fn storage_paths() {
    let ss = format!("{K}/storage_server");
    let r = mutated(|v| {
        set(
            v,
            &format!("{ss}/nfs_server_setup_params/0/export_dir"),
            json!("/volume/nfs/pv1;reboot"),
        )
    });
    // pv1 is no longer exported by a valid entry either.
    assert_eq!(
        errors(&r),
        vec![codes::PV_PATH_NOT_EXPORTED.id, codes::UNSAFE_CHARS.id]
    );
    let r = mutated(|v| {
        set(
            v,
            &format!("{ss}/nfs_server_setup_params/2"),
            json!({"export_dir": "/srv/x", "export_to": "*"}),
        )
    });
    assert_eq!(errors(&r), vec![codes::EXPORT_OUTSIDE_MOUNT.id]);
    let r = mutated(|v| {
        set(
            v,
            &format!("{ss}/nfs_server_setup_params/2"),
            json!({"export_dir": "/volume/nfs/../x", "export_to": "*"}),
        )
    });
    assert_eq!(errors(&r), vec![codes::PATH_INVALID.id]);
    let r = mutated(|v| {
        set(
            v,
            &format!("{ss}/nfs_server_setup_params/2"),
            json!({"export_dir": "/volume/nfs/pv1", "export_to": "*"}),
        )
    });
    assert_eq!(errors(&r), vec![codes::STORAGE_DUPLICATE.id]);
    for (mount, code) in [
        ("/", codes::MOUNT_POINT_INVALID),
        ("/etc", codes::MOUNT_POINT_INVALID),
        ("/proc/x", codes::MOUNT_POINT_INVALID),
        ("volume", codes::PATH_INVALID),
    ] {
        let r = mutated(|v| {
            set(
                v,
                &format!("{ss}/cinder_volume_setup_params/0/mount_to"),
                json!(mount),
            );
            set(
                v,
                &format!("{ss}/nfs_server_setup_params/0/export_dir"),
                json!("/volume/nfs/pv1"),
            );
        });
        assert!(errors(&r).contains(&code.id), "{mount}: {:?}", r.findings);
    }
    let r = mutated(|v| {
        set(
            v,
            &format!("{ss}/cinder_volume_setup_params/1"),
            json!({"volume_resource_id": "storage_server_volume", "mount_to": "/volume/nfs"}),
        )
    });
    assert_eq!(errors(&r), vec![codes::STORAGE_DUPLICATE.id]);
}

#[test]
fn export_to_values() {
    let p = format!("{K}/storage_server/nfs_server_setup_params/0/export_to");
    for ok in [
        "*",
        "10.10.0.5",
        "host.example.com",
        "*.example.com",
        "@trusted",
    ] {
        let r = mutated(|v| set(v, &p, json!(ok)));
        assert!(r.ok(), "{ok}: {:?}", r.findings);
    }
    for bad in ["10.10.0.0/24(rw)", "a b", "*;reboot", ""] {
        let r = mutated(|v| set(v, &p, json!(bad)));
        assert_eq!(errors(&r), vec![codes::EXPORT_TO_INVALID.id], "{bad}");
    }
}

#[test]
fn storage_sections_are_required_together() {
    let r = mutated(|v| remove(v, &format!("{K}/storage_server")));
    assert_eq!(errors(&r), vec![codes::PV_WITHOUT_STORAGE.id]);
    let r = mutated(|v| remove(v, &format!("{K}/pv_registration_params")));
    assert_eq!(errors(&r), vec![codes::STORAGE_INCOMPLETE.id]);
    let r = mutated(|v| {
        set(
            v,
            &format!("{K}/storage_server/cinder_volume_setup_params"),
            json!([]),
        )
    });
    assert!(errors(&r).contains(&codes::STORAGE_INCOMPLETE.id));
    let r = mutated(|v| {
        set(
            v,
            &format!("{K}/storage_server/nfs_server_setup_params"),
            json!([]),
        )
    });
    assert_eq!(errors(&r), vec![codes::STORAGE_INCOMPLETE.id]);
    let r = mutated(|v| {
        set(
            v,
            &format!("{K}/storage_server/cinder_volume_setup_params"),
            Value::Null,
        )
    });
    assert_eq!(errors(&r), vec![codes::INVALID_VALUE.id]);
}

#[test]
fn user_data_both_or_neither() {
    let r = mutated(|v| remove(v, "/additionalParams/lcm-operation-user-data-class"));
    assert_eq!(errors(&r), vec![codes::USER_DATA_INCOMPLETE.id]);
    let r = mutated(|v| remove(v, "/additionalParams/lcm-operation-user-data"));
    assert_eq!(errors(&r), vec![codes::USER_DATA_INCOMPLETE.id]);
    let r = mutated(|v| {
        remove(v, "/additionalParams/lcm-operation-user-data");
        remove(v, "/additionalParams/lcm-operation-user-data-class");
    });
    assert!(r.ok());
    let r = mutated(|v| {
        set(
            v,
            "/additionalParams/lcm-operation-user-data",
            json!("./UserData/other.py"),
        )
    });
    assert!(r.ok());
    assert!(r.contains(codes::USER_DATA_FILE_MISSING));
}

#[test]
fn credentials_and_usernames() {
    let w = format!("{K}/worker_node");
    let r = mutated(|v| set(v, &format!("{w}/username"), json!("root$")));
    assert_eq!(errors(&r), vec![codes::USERNAME_INVALID.id]);
    let r = mutated(|v| set(v, &format!("{w}/password"), json!("")));
    assert_eq!(errors(&r), vec![codes::PASSWORD_EMPTY.id]);
    let r = mutated(|v| remove(v, &format!("{w}/password")));
    assert_eq!(errors(&r), vec![codes::CREDENTIALS_MISSING.id]);
    let r = mutated(|v| {
        remove(v, &format!("{w}/password"));
        set(
            v,
            &format!("{w}/ssh_private_key_path"),
            json!("/home/op/.ssh/id_ed25519"),
        );
    });
    assert!(r.ok(), "{:?}", r.findings);
    // Any password content is fine.
    let r = mutated(|v| set(v, &format!("{w}/password"), json!("p;a$s `w' \"d\n")));
    assert!(r.ok(), "{:?}", r.findings);
}

#[test]
fn names_and_vim_name() {
    let r = mutated(|v| {
        set(
            v,
            &format!("{K}/master_node/aspect_id"),
            json!("master instance"),
        )
    });
    assert_eq!(errors(&r), vec![codes::UNSAFE_CHARS.id]);
    let r = mutated(|v| set(v, &format!("{K}/vim_name"), json!("vim\u{7}")));
    assert_eq!(errors(&r), vec![codes::NAME_INVALID.id]);
    let r = mutated(|v| set(v, &format!("{K}/vim_name"), json!("Kubernetes VIM (prod)")));
    assert!(r.ok());
}

#[test]
fn proxy_and_registry() {
    let r = mutated(|v| {
        set(
            v,
            &format!("{K}/proxy/http_proxy"),
            json!("http://user1:S3NTINEL@host1:port1"),
        )
    });
    assert_eq!(errors(&r), vec![codes::PROXY_URL_INVALID.id]);
    assert!(
        r.findings
            .iter()
            .all(|f| !f.to_string().contains("S3NTINEL"))
    );
    let reg = format!("{K}/private_registry_connection_info");
    for (entry, code) in [
        (
            json!({"connection_type": 2, "server": "r.example.com:5000"}),
            codes::CONNECTION_TYPE,
        ),
        (
            json!({"connection_type": "https", "server": "r.example.com:5000"}),
            codes::CONNECTION_TYPE,
        ),
        (
            json!({"connection_type": "1", "server": "r.example.com"}),
            codes::SERVER_INVALID,
        ),
        (
            json!({"connection_type": 0, "server": "r:5000", "hosts_string": "r.example.com"}),
            codes::HOSTS_STRING_INVALID,
        ),
        (
            json!({"connection_type": 0, "server": "r:5000", "username": "a b"}),
            codes::USERNAME_INVALID,
        ),
        (
            json!({"connection_type": 0, "server": "r:5000", "password": ""}),
            codes::PASSWORD_EMPTY,
        ),
    ] {
        let r = mutated(|v| set(v, &reg, json!([entry])));
        assert_eq!(errors(&r), vec![code.id], "{:?}", r.findings);
    }
    let r = mutated(|v| {
        set(
            v,
            &reg,
            json!([{"connection_type": "0", "server": "10.0.0.20:5000", "hosts_string": "10.0.0.20 r.example.com"}]),
        )
    });
    assert!(r.ok(), "{:?}", r.findings);
}

#[test]
fn missing_k8s_param() {
    let r = mutated(|v| remove(v, K));
    assert_eq!(errors(&r), vec![codes::MISSING_KEY.id]);
}

#[test]
fn structural_and_semantic_errors_in_one_run() {
    // worker_node has a structural error; master_node and storage are still checked.
    let r = mutated(|v| {
        remove(v, &format!("{K}/worker_node/username"));
        set(v, &format!("{K}/master_node/pod_cidr"), json!("bad"));
        set(
            v,
            &format!("{K}/storage_server/nfs_server_setup_params/0/export_to"),
            json!("a b"),
        );
        set(v, "/flavourId", json!("large"));
    });
    assert_eq!(
        errors(&r),
        vec![
            codes::CIDR_INVALID.id,
            codes::UNKNOWN_FLAVOUR.id,
            codes::EXPORT_TO_INVALID.id,
            codes::MISSING_KEY.id,
        ]
    );
    let f = r
        .findings
        .iter()
        .find(|f| f.code == codes::MISSING_KEY)
        .expect("missing");
    assert_eq!(
        f.location.pointer.as_deref(),
        Some(format!("{K}/worker_node/username").as_str())
    );
    assert!(f.location.line.is_some());
}

#[test]
fn check_and_check_local_agree_with_validate() {
    let v = base();
    let req: InstantiateVnfRequest = serde_json::from_value(v.clone()).expect("typed");
    let src = RequestSource::new("req.json", serde_json::to_string_pretty(&v).expect("text"));
    let mut a = Report::new();
    check(
        &req,
        &src,
        &support::sample_files(),
        &support::sample_vnfd(),
        &mut a,
    );
    assert_eq!(a, run(&v));
    let mut b = Report::new();
    check_local(&req, &src, &mut b);
    assert_eq!(b.count(Severity::Warning), 1);
    assert!(b.ok());
}

#[test]
fn redacted_hides_every_secret() {
    let mut v = base();
    set(
        &mut v,
        &format!("{K}/master_node/password"),
        json!("S3NTINEL-1"),
    );
    set(
        &mut v,
        &format!("{K}/proxy/https_proxy"),
        json!("https://u:S3NTINEL-2@host2:8443"),
    );
    set(
        &mut v,
        &format!("{K}/private_registry_connection_info"),
        json!([{"connection_type": 1, "server": "r:5000", "username": "u", "password": "S3NTINEL-3"}]),
    );
    set(
        &mut v,
        "/vimConnectionInfo/0/accessInfo",
        json!({"username": "admin", "password": "S3NTINEL-4", "application_credential_secret": "S3NTINEL-5", "nested": {"token": "S3NTINEL-6"}}),
    );
    let req: InstantiateVnfRequest = serde_json::from_value(v).expect("typed");
    let text = serde_json::to_string(&req.redacted()).expect("serializes");
    assert!(!text.contains("S3NTINEL"), "{text}");
    assert!(text.contains("https://***@host2:8443"));
    assert!(
        text.contains("\"username\":\"admin\""),
        "non-secrets stay: {text}"
    );
    assert_eq!(req.redacted().redacted(), req.redacted());
}

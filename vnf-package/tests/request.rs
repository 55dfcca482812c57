//! Integration tests of the request layer: sample requests, the seed request, the
//! `samples/invalid/req-*` cases, the published JSON Schema, and robustness.

use vnf_package as pkg;
#[path = "data/request/support.rs"]
mod support;

use proptest::prelude::*;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use vnf_package::diag::{Report, Severity};
use vnf_package::request::{
    self, InstantiateVnfRequest, PackageContext, RequestSource, codes, validate,
};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

fn run_file(path: &Path) -> (Option<InstantiateVnfRequest>, Report) {
    let src = RequestSource::read(path).expect("readable");
    run_src(&src)
}

fn run_src(src: &RequestSource) -> (Option<InstantiateVnfRequest>, Report) {
    let files = support::sample_files();
    let vnfd = support::sample_vnfd();
    let mut r = Report::new();
    let req = validate(
        src,
        Some(PackageContext {
            files: &files,
            vnfd: &vnfd,
        }),
        &mut r,
    );
    (req, r)
}

#[test]
fn sample_requests_validate() {
    let dir = repo_root().join("samples/requests");
    let (req, r) = run_file(&dir.join("instantiate_simple_pv.json"));
    assert!(r.ok(), "{:#?}", r.findings);
    assert_eq!(r.error_codes(), Vec::<&str>::new());
    assert!(
        r.contains(codes::CIDR_HOST_BITS),
        "seed pod_cidr 192.168.3.0/16 warns"
    );
    let req = req.expect("typed");
    assert_eq!(req.ext_virtual_links.len(), 3);

    let (req, r) = run_file(&dir.join("instantiate_complex_pv.json"));
    assert!(r.ok(), "{:#?}", r.findings);
    assert_eq!(r.count(Severity::Warning), 0, "{:#?}", r.findings);
    assert_eq!(
        r.findings.iter().map(|f| f.code).collect::<Vec<_>>(),
        vec![codes::CP_HOT_ONLY],
        "vip_CP is accepted as a HOT-only port with 3 masters"
    );
    assert_eq!(req.expect("typed").flavour_id, "complex");

    let (_, r) = run_file(&dir.join("instantiate_simple_minimal.json"));
    assert!(r.findings.is_empty(), "{:#?}", r.findings);
}

/// The seed guide's request as published: valid except for its placeholder proxy ports
/// (`host1:port1`), which is the only change made in `instantiate_simple_pv.json`.
#[test]
fn seed_request_verbatim() {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/request/seed_003_verbatim.json");
    let (req, r) = run_file(&path);
    assert!(req.is_some(), "the seed deserializes");
    assert_eq!(r.error_codes(), vec![codes::PROXY_URL_INVALID.id]);
    let ptrs: Vec<_> = r
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .filter_map(|f| f.location.pointer.as_deref())
        .collect();
    assert_eq!(
        ptrs,
        vec![
            "/additionalParams/k8s_cluster_installation_param/proxy/http_proxy",
            "/additionalParams/k8s_cluster_installation_param/proxy/https_proxy"
        ]
    );
    for f in &r.findings {
        assert!(
            !f.to_string().contains("password1"),
            "credentials leaked: {f}"
        );
    }
    let sample: Value = serde_json::from_str(
        &std::fs::read_to_string(repo_root().join("samples/requests/instantiate_simple_pv.json"))
            .expect("read"),
    )
    .expect("json");
    let mut seed: Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("read")).expect("json");
    let proxy = "/additionalParams/k8s_cluster_installation_param/proxy";
    for (k, v) in [
        ("http_proxy", "http://user1:password1@host1:8080"),
        ("https_proxy", "https://user2:password2@host2:8443"),
    ] {
        *seed.pointer_mut(&format!("{proxy}/{k}")).expect("key") = json!(v);
    }
    assert_eq!(
        seed, sample,
        "the sample differs from the seed only in the proxy ports"
    );
}

#[derive(serde::Deserialize)]
struct Case {
    package: String,
    request: String,
    expected_code: String,
}

#[test]
fn invalid_request_cases() {
    let root = repo_root();
    let mut n = 0;
    let mut entries: Vec<_> = std::fs::read_dir(root.join("samples/invalid"))
        .expect("samples/invalid")
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with("req-"))
        .map(|e| e.path())
        .collect();
    entries.sort();
    for dir in entries {
        let case: Case = serde_json::from_str(
            &std::fs::read_to_string(dir.join("case.json")).expect("case.json"),
        )
        .expect("case.json is valid");
        let pkg_dir = [dir.join(&case.package), root.join(&case.package)]
            .into_iter()
            .find(|p| p.exists());
        assert!(
            case.package == "samples/packages/k8s_cluster_with_pv" || pkg_dir.is_some(),
            "{}: unknown package {}",
            dir.display(),
            case.package
        );
        let (_, r) = run_file(&dir.join(&case.request));
        assert_eq!(
            r.error_codes(),
            vec![case.expected_code.as_str()],
            "{}: one defect, one error code; findings: {:#?}",
            dir.display(),
            r.findings
        );
        for f in r.findings.iter().filter(|f| f.severity == Severity::Error) {
            assert!(
                f.location.file.is_some()
                    && (f.location.pointer.is_some() || f.location.line.is_some()),
                "{}: finding without position: {f}",
                dir.display()
            );
        }
        n += 1;
    }
    assert!(n >= 12, "only {n} req-* cases");
}

#[test]
fn json_syntax_case_has_line_and_column() {
    let (_, r) = run_file(&repo_root().join("samples/invalid/req-json-syntax/request.json"));
    let f = &r.findings[0];
    assert_eq!(f.code, codes::JSON_SYNTAX);
    assert_eq!((f.location.line, f.location.column), (Some(2), Some(25)));
}

/// The files the request checks read from the sample package exist there and the PV
/// manifests agree with the in-memory copies the tests use.
#[test]
fn sample_package_has_the_files_requests_name() {
    let dir = repo_root().join("samples/packages/k8s_cluster_with_pv");
    let mut report = Report::new();
    let package = pkg::archive::Package::open(&dir, &mut report).expect("sample package opens");
    let files = support::sample_files();
    for (rel, text) in &files.0 {
        if rel.starts_with("UserData/") {
            continue;
        }
        assert!(package.contains(rel), "sample package lacks {rel}");
        if rel.ends_with("nfs-pv1.yaml") || rel.ends_with("nfs-pv2.yaml") {
            let real = package.read_text(rel).expect("utf-8");
            assert_eq!(
                request::parse_pv(&real).ok(),
                request::parse_pv(text).ok(),
                "{rel}"
            );
        }
    }
    let mut r = Report::new();
    let src = RequestSource::read(&repo_root().join("samples/requests/instantiate_simple_pv.json"))
        .expect("read");
    let vnfd = support::sample_vnfd();
    validate(
        &src,
        Some(PackageContext {
            files: &package,
            vnfd: &vnfd,
        }),
        &mut r,
    );
    assert!(r.ok(), "{:#?}", r.findings);
}

const SCHEMA_FILE: &str = "docs/schema/instantiate-request.schema.json";

#[test]
fn published_schema_matches_the_types() {
    let path = repo_root().join(SCHEMA_FILE);
    let generated = request::json_schema_text();
    if std::env::var_os("VNF_MGMT_BLESS").is_some() {
        std::fs::create_dir_all(path.parent().expect("dir")).expect("mkdir");
        std::fs::write(&path, &generated).expect("write schema");
    }
    let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        on_disk == generated,
        "{SCHEMA_FILE} is out of date with the Rust types. Regenerate it with:\n\n    VNF_MGMT_BLESS=1 cargo test -p vnf-package --test request published_schema\n"
    );
}

#[test]
fn samples_conform_to_published_schema() {
    let schema = request::json_schema();
    for name in [
        "instantiate_simple_pv.json",
        "instantiate_complex_pv.json",
        "instantiate_simple_minimal.json",
    ] {
        let v: Value = serde_json::from_str(
            &std::fs::read_to_string(repo_root().join("samples/requests").join(name))
                .expect("read"),
        )
        .expect("json");
        assert_eq!(request::shape::check_shape(&schema, &v), vec![], "{name}");
    }
}

#[test]
fn no_finding_leaks_a_secret() {
    let text =
        std::fs::read_to_string(repo_root().join("samples/requests/instantiate_complex_pv.json"))
            .expect("read");
    let mut v: Value = serde_json::from_str(&text).expect("json");
    let k = "/additionalParams/k8s_cluster_installation_param";
    let put = |v: &mut Value, p: &str, x: Value| *v.pointer_mut(p).expect(p) = x;
    put(
        &mut v,
        &format!("{k}/master_node/password"),
        json!("S3NTINEL-m"),
    );
    put(
        &mut v,
        &format!("{k}/master_node/username"),
        json!("Bad User"),
    );
    put(
        &mut v,
        &format!("{k}/worker_node/password"),
        json!(["S3NTINEL-w"]),
    );
    put(&mut v, &format!("{k}/storage_server/password"), json!(""));
    put(
        &mut v,
        &format!("{k}/proxy/http_proxy"),
        json!("http://u:S3NTINEL-p@h:x"),
    );
    put(
        &mut v,
        &format!("{k}/proxy/https_proxy"),
        json!("ftp://u:S3NTINEL-q@h"),
    );
    put(
        &mut v,
        &format!("{k}/private_registry_connection_info/0/password"),
        json!("S3NTINEL-r"),
    );
    put(
        &mut v,
        &format!("{k}/private_registry_connection_info/0/server"),
        json!("nope"),
    );
    put(
        &mut v,
        "/vimConnectionInfo/0/accessInfo/password",
        json!("S3NTINEL-v"),
    );
    put(&mut v, "/flavourId", json!("unknown"));
    let src = RequestSource::new("bad.json", serde_json::to_string_pretty(&v).expect("text"));
    let (_, r) = run_src(&src);
    assert!(r.findings.len() >= 5, "{:#?}", r.findings);
    let all = serde_json::to_string(&r).expect("report serializes") + &format!("{:?}", r.findings);
    for f in &r.findings {
        assert!(!f.to_string().contains("S3NTINEL"), "secret in {f}");
    }
    assert!(!all.contains("S3NTINEL"));
}

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        "[ -~]{0,12}".prop_map(Value::from),
        prop_oneof![
            Just("masterNode_CP1"),
            Just("/volume/nfs/pv1"),
            Just("192.168.0.0/16"),
            Just("simple"),
            Just("Files/kubernetes/nfs-pv1.yaml"),
            Just("*"),
            Just("1"),
            Just("/"),
            Just("vip_CP"),
        ]
        .prop_map(Value::from),
    ];
    let keys = prop_oneof![
        Just("flavourId".to_string()),
        Just("additionalParams".to_string()),
        Just("k8s_cluster_installation_param".to_string()),
        Just("master_node".to_string()),
        Just("worker_node".to_string()),
        Just("storage_server".to_string()),
        Just("pv_registration_params".to_string()),
        Just("extVirtualLinks".to_string()),
        Just("extCps".to_string()),
        Just("cpdId".to_string()),
        Just("username".to_string()),
        Just("nfs_server_setup_params".to_string()),
        Just("export_dir".to_string()),
        "[a-z_~/]{1,8}",
    ];
    leaf.prop_recursive(6, 64, 8, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((keys.clone(), inner), 0..6)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

fn sample_value() -> Value {
    serde_json::from_str(
        &std::fs::read_to_string(repo_root().join("samples/requests/instantiate_simple_pv.json"))
            .expect("read"),
    )
    .expect("json")
}

/// Every pointer of a value, root excluded.
fn pointers(v: &Value, base: &str, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                let p = format!("{base}/{}", k.replace('~', "~0").replace('/', "~1"));
                out.push(p.clone());
                pointers(x, &p, out);
            }
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                let p = format!("{base}/{i}");
                out.push(p.clone());
                pointers(x, &p, out);
            }
        }
        _ => {}
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,200}") {
        let src = RequestSource::new("fuzz.json", text);
        let _ = run_src(&src);
    }

    #[test]
    fn arbitrary_json_never_panics(v in arb_json()) {
        let src = RequestSource::new("fuzz.json", serde_json::to_string(&v).expect("text"));
        let (req, r) = run_src(&src);
        // Typed deserialization succeeds exactly when no structural finding was reported.
        // (`k8s_cluster_installation_param` itself is optional in the schema; its absence
        // is a semantic finding.)
        let structural = r.findings.iter().any(|f| {
            [codes::MISSING_KEY, codes::UNKNOWN_KEY, codes::INVALID_VALUE].contains(&f.code)
                && f.location.pointer.as_deref() != Some("/additionalParams/k8s_cluster_installation_param")
        });
        prop_assert_eq!(req.is_some(), !structural);
    }

    /// The sample with one value replaced anywhere: no panic, every finding has a file, and
    /// a typed request is only produced when serde accepts the value (the schema check is
    /// stricter: serde would also take a struct written as an array).
    #[test]
    fn mutated_sample_never_panics(pick in any::<prop::sample::Index>(), new in arb_json()) {
        let mut v = sample_value();
        let mut ps = Vec::new();
        pointers(&v, "", &mut ps);
        let p = pick.get(&ps).clone();
        *v.pointer_mut(&p).expect("pointer") = new;
        let text = serde_json::to_string_pretty(&v).expect("text");
        let src = RequestSource::new("m.json", text);
        let (req, r) = run_src(&src);
        let serde_ok = serde_json::from_value::<InstantiateVnfRequest>(v.clone()).is_ok();
        prop_assert!(req.is_none() || serde_ok, "at {}: {:?}", p, r.findings);
        if serde_ok && req.is_none() {
            prop_assert!(r.has_errors(), "rejected without an error at {}", p);
        }
        for f in &r.findings {
            prop_assert!(f.location.file.is_some());
        }
    }
}

fn keys<T>(m: &indexmap::IndexMap<String, T>) -> Vec<String> {
    m.keys().cloned().collect()
}

fn real_sample() -> (pkg::archive::Package, pkg::vnfd::Vnfd) {
    let dir = repo_root().join("samples/packages/k8s_cluster_with_pv");
    let mut report = Report::new();
    let package = pkg::archive::Package::open(&dir, &mut report).expect("sample package opens");
    let vnfd = pkg::vnfd::load(&package, &mut report).expect("sample VNFD builds");
    (package, vnfd)
}

/// The hand-built VNFD used by the unit tests agrees with the VNFD built from the sample
/// package on everything the request checks read.
#[test]
fn hand_built_vnfd_matches_sample_package() {
    let (_, real) = real_sample();
    let hand = support::sample_vnfd();
    assert_eq!(keys(&real.flavours), keys(&hand.flavours));
    for (id, h) in &hand.flavours {
        let r = &real.flavours[id];
        assert_eq!(keys(&r.vdus), keys(&h.vdus), "{id} VDUs");
        assert_eq!(keys(&r.volumes), keys(&h.volumes), "{id} volumes");
        assert_eq!(
            keys(&r.instantiation_levels),
            keys(&h.instantiation_levels),
            "{id} levels"
        );
        assert_eq!(r.default_level, h.default_level, "{id} default level");
        let cps = |f: &pkg::vnfd::Flavour| {
            f.cps
                .values()
                .map(|c| (c.name.clone(), c.vdu.clone()))
                .collect::<Vec<_>>()
        };
        assert_eq!(cps(r), cps(h), "{id} CPs");
        let aspects = |f: &pkg::vnfd::Flavour| {
            f.aspects
                .values()
                .map(|a| {
                    (
                        a.id.clone(),
                        a.vdus().map(str::to_string).collect::<Vec<_>>(),
                    )
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(aspects(r), aspects(h), "{id} aspects");
        for (vdu, hv) in &h.vdus {
            assert_eq!(
                r.vdus[vdu].virtual_storages, hv.virtual_storages,
                "{id}/{vdu} storages"
            );
            for level in h.instantiation_levels.keys() {
                assert_eq!(
                    r.instances_at_level(vdu, r.level(Some(level))),
                    h.instances_at_level(vdu, h.level(Some(level))),
                    "{id}/{vdu} instances at {level}"
                );
            }
        }
    }
}

/// Samples and invalid cases give the same result against the real package and VNFD.
#[test]
fn requests_against_real_sample_package() {
    let (package, vnfd) = real_sample();
    let check = |path: &Path| {
        let src = RequestSource::read(path).expect("read");
        let mut r = Report::new();
        validate(
            &src,
            Some(PackageContext {
                files: &package,
                vnfd: &vnfd,
            }),
            &mut r,
        );
        r
    };
    for name in [
        "instantiate_simple_pv.json",
        "instantiate_complex_pv.json",
        "instantiate_simple_minimal.json",
    ] {
        let r = check(&repo_root().join("samples/requests").join(name));
        assert!(r.ok(), "{name}: {:#?}", r.findings);
    }
    let mut n = 0;
    for entry in std::fs::read_dir(repo_root().join("samples/invalid"))
        .expect("dir")
        .filter_map(Result::ok)
    {
        if !entry.file_name().to_string_lossy().starts_with("req-") {
            continue;
        }
        let dir = entry.path();
        let case: Case =
            serde_json::from_str(&std::fs::read_to_string(dir.join("case.json")).expect("case"))
                .expect("json");
        let r = check(&dir.join(&case.request));
        assert_eq!(
            r.error_codes(),
            vec![case.expected_code.as_str()],
            "{}: {:#?}",
            dir.display(),
            r.findings
        );
        n += 1;
    }
    assert!(n >= 12);
}

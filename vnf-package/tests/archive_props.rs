//! Property tests: TOSCA.meta and manifest parsing never panic on arbitrary input, and
//! valid generated documents round-trip through render → parse without findings.

use proptest::prelude::*;
use vnf_package::archive::{
    Algorithm, DigestEntry, Field, Manifest, ManifestMetadata, NonManoSet, ToscaMeta, hash_bytes,
    normalize, resolve,
};
use vnf_package::{Report, Severity};

fn field(v: impl Into<String>) -> Field {
    Field {
        value: v.into(),
        line: 0,
        column: 0,
    }
}

/// Lines that look like the real thing, to reach deep parser states.
fn line() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just("metadata:".to_string()),
        Just("non_mano_artifact_sets:".to_string()),
        Just("-----BEGIN CMS-----".to_string()),
        Just("-----END CMS-----".to_string()),
        "(  |    )?(Source|Algorithm|Hash|Name|Content-Type|Entry-Definitions|Created-by|vnf_release_date_time|[a-z_]{1,8}): ?[ -~]{0,20}",
        "[ -~\u{80}-\u{10ffff}]{0,30}",
        Just("\r".to_string()),
    ]
}

fn document() -> impl Strategy<Value = String> {
    prop::collection::vec(line(), 0..40).prop_map(|l| l.join("\n"))
}

fn path() -> impl Strategy<Value = String> {
    prop::collection::vec("[A-Za-z0-9_][A-Za-z0-9_.-]{0,10}", 1..4).prop_map(|p| p.join("/"))
}

fn value() -> impl Strategy<Value = String> {
    // Printable, no leading/trailing space, not quoted.
    "[A-Za-z0-9][A-Za-z0-9 ._/-]{0,20}[A-Za-z0-9]"
}

fn algorithm() -> impl Strategy<Value = Algorithm> {
    prop::sample::select(Algorithm::ALL.to_vec())
}

fn digest_entry(with_content_type: bool) -> impl Strategy<Value = DigestEntry> {
    (
        path(),
        algorithm(),
        any::<Vec<u8>>(),
        any::<bool>(),
        value(),
    )
        .prop_map(move |(p, a, bytes, lower, ct)| {
            let name = if lower {
                a.name().to_ascii_lowercase()
            } else {
                a.name().to_string()
            };
            DigestEntry {
                source: Some(field(p)),
                algorithm: Some(field(name)),
                hash: Some(field(hash_bytes(&bytes, a))),
                extra: if with_content_type {
                    vec![("Content-Type".to_string(), field(ct))]
                } else {
                    vec![]
                },
                line: 0,
            }
        })
}

fn tosca_meta() -> impl Strategy<Value = ToscaMeta> {
    (
        value(),
        path(),
        prop::option::of(path()),
        prop::collection::vec(digest_entry(true), 0..5),
    )
        .prop_map(|(created, entry, mf, files)| ToscaMeta {
            file_version: Some(field("1.0")),
            csar_version: Some(field("1.1")),
            created_by: Some(field(created)),
            entry_definitions: Some(field(entry)),
            entry_manifest: mf.map(field),
            files,
            ..Default::default()
        })
}

fn manifest() -> impl Strategy<Value = Manifest> {
    (
        value(),
        value(),
        (1970i32..2100, 1u8..=12, 1u8..=28, 0u8..24, 0u8..60),
        value(),
        prop::collection::vec(digest_entry(false), 0..6),
    )
        .prop_map(|(prov, prod, (y, mo, d, h, mi), ver, entries)| {
            // Non-MANO sources must be listed, so reuse the first entry's path.
            let non_mano = entries
                .first()
                .and_then(|e| e.source.clone())
                .map(|s| NonManoSet {
                    name: field("onap_other"),
                    sources: vec![s],
                })
                .into_iter()
                .collect();
            Manifest {
                metadata: Some(ManifestMetadata {
                    vnf_provider_id: Some(field(prov)),
                    vnf_product_name: Some(field(prod)),
                    vnf_release_date_time: Some(field(format!(
                        "{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:00Z"
                    ))),
                    vnf_package_version: Some(field(ver)),
                    ..Default::default()
                }),
                entries,
                non_mano_artifact_sets: non_mano,
                signature_line: None,
            }
        })
}

fn values_of_entries(es: &[DigestEntry]) -> Vec<Vec<String>> {
    es.iter()
        .map(|e| {
            let mut v = vec![
                e.source
                    .as_ref()
                    .map(|f| f.value.clone())
                    .unwrap_or_default(),
                e.algorithm
                    .as_ref()
                    .map(|f| f.value.clone())
                    .unwrap_or_default(),
                e.hash.as_ref().map(|f| f.value.clone()).unwrap_or_default(),
            ];
            v.extend(e.extra.iter().map(|(k, f)| format!("{k}={}", f.value)));
            v
        })
        .collect()
}

fn no_errors_or_warnings(r: &Report) -> bool {
    r.findings.iter().all(|f| f.severity == Severity::Info)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn tosca_meta_parse_never_panics(text in document()) {
        let mut r = Report::new();
        let m = ToscaMeta::parse(&text, "TOSCA-Metadata/TOSCA.meta", &mut r);
        // Every finding names the file and a line within the text.
        let lines = text.split('\n').count() as u32;
        for f in &r.findings {
            prop_assert_eq!(f.location.file.as_deref(), Some("TOSCA-Metadata/TOSCA.meta"));
            prop_assert!(f.location.line.unwrap_or(1) <= lines.max(1));
        }
        let _ = m.render();
    }

    #[test]
    fn manifest_parse_never_panics(text in document()) {
        let mut r = Report::new();
        let m = Manifest::parse(&text, "vnf.mf", &mut r);
        let lines = text.split('\n').count() as u32;
        for f in &r.findings {
            prop_assert_eq!(f.location.file.as_deref(), Some("vnf.mf"));
            prop_assert!(f.location.line.unwrap_or(1) <= lines.max(1));
        }
        let _ = m.render();
    }

    #[test]
    fn parsers_never_panic_on_arbitrary_bytes(bytes in any::<Vec<u8>>()) {
        let text = String::from_utf8_lossy(&bytes);
        let mut r = Report::new();
        ToscaMeta::parse(&text, "m", &mut r);
        Manifest::parse(&text, "m", &mut r);
    }

    #[test]
    fn tosca_meta_round_trips(meta in tosca_meta()) {
        let text = meta.render();
        let mut r = Report::new();
        let parsed = ToscaMeta::parse(&text, "TOSCA-Metadata/TOSCA.meta", &mut r);
        prop_assert!(no_errors_or_warnings(&r), "{:?}\n{}", r.findings, text);
        prop_assert_eq!(parsed.created_by.map(|f| f.value), meta.created_by.map(|f| f.value));
        prop_assert_eq!(parsed.entry_definitions.map(|f| f.value), meta.entry_definitions.map(|f| f.value));
        prop_assert_eq!(parsed.entry_manifest.map(|f| f.value), meta.entry_manifest.map(|f| f.value));
        prop_assert_eq!(values_of_entries(&parsed.files), values_of_entries(&meta.files));
    }

    #[test]
    fn manifest_round_trips(m in manifest()) {
        let text = m.render();
        let mut r = Report::new();
        let parsed = Manifest::parse(&text, "vnf.mf", &mut r);
        // Duplicate sources are a legitimate warning for generated data; nothing else is.
        prop_assert!(
            r.findings.iter().all(|f| f.severity != Severity::Error),
            "{:?}\n{}", r.findings, text
        );
        let md = parsed.metadata.as_ref().expect("metadata");
        prop_assert!(md.release_date_time.is_some());
        let want = m.metadata.as_ref().expect("metadata");
        prop_assert_eq!(
            md.vnf_provider_id.as_ref().map(|f| &f.value),
            want.vnf_provider_id.as_ref().map(|f| &f.value)
        );
        prop_assert_eq!(values_of_entries(&parsed.entries), values_of_entries(&m.entries));
        prop_assert_eq!(parsed.non_mano_artifact_sets.len(), m.non_mano_artifact_sets.len());
    }

    #[test]
    fn normalize_never_escapes(p in "[a-z./\\\\]{0,24}") {
        if let Some(n) = normalize(&p) {
            prop_assert!(!n.starts_with('/'));
            prop_assert!(n.split('/').all(|c| !c.is_empty() && c != "." && c != ".."));
            prop_assert_eq!(normalize(&n), Some(n.clone()));
        }
        if let Some(n) = resolve("Definitions/top.yaml", &p) {
            prop_assert!(n.split('/').all(|c| c != ".."));
        }
    }
}

//! No input makes the TOSCA loader or the VNFD builder panic.

use proptest::prelude::*;
use vnf_package::tosca::{self, MemFiles};
use vnf_package::{Report, vnfd};

fn yamlish() -> impl Strategy<Value = String> {
    let scalar = prop_oneof![
        Just("null".to_owned()),
        Just("yes".to_owned()),
        Just("5 GB".to_owned()),
        Just("-1".to_owned()),
        Just("017".to_owned()),
        Just("[ a, b ]".to_owned()),
        Just("{ get_input: x }".to_owned()),
        "[a-z_.]{0,12}",
        any::<i64>().prop_map(|i| i.to_string()),
    ];
    let key = prop_oneof![
        Just("tosca_definitions_version".to_owned()),
        Just("imports".to_owned()),
        Just("node_types".to_owned()),
        Just("data_types".to_owned()),
        Just("policy_types".to_owned()),
        Just("topology_template".to_owned()),
        Just("node_templates".to_owned()),
        Just("policies".to_owned()),
        Just("groups".to_owned()),
        Just("substitution_mappings".to_owned()),
        Just("derived_from".to_owned()),
        Just("properties".to_owned()),
        Just("requirements".to_owned()),
        Just("constraints".to_owned()),
        Just("interfaces".to_owned()),
        Just("artifacts".to_owned()),
        Just("type".to_owned()),
        Just("entry_schema".to_owned()),
        Just("in_range".to_owned()),
        Just("pattern".to_owned()),
        Just("targets".to_owned()),
        Just("file".to_owned()),
        "[a-z]{1,6}",
    ];
    // Lines of `indent key: value` / `indent - value` produce nested structures.
    let line = (0usize..5, key, scalar, any::<bool>()).prop_map(|(d, k, v, dash)| {
        let ind = "  ".repeat(d);
        if dash {
            format!("{ind}- {k}: {v}")
        } else {
            format!("{ind}{k}: {v}")
        }
    });
    prop::collection::vec(line, 0..40).prop_map(|ls| {
        let mut s = String::from("tosca_definitions_version: tosca_simple_yaml_1_3\n");
        for l in ls {
            s.push_str(&l);
            s.push('\n');
        }
        s
    })
}

fn run(text: &str) {
    let files = MemFiles::new([("Definitions/a.yaml", text), ("Definitions/b.yaml", text)]);
    let mut r = Report::new();
    let _ = vnfd::load_files(&files, "Definitions/a.yaml", &mut r);
    for f in &r.findings {
        assert!(f.location.file.is_some(), "finding without file: {f}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_strings_never_panic(s in any::<String>()) {
        let _ = tosca::check_str(&s, "a.yaml");
        run(&s);
    }

    #[test]
    fn yamlish_structures_never_panic(s in yamlish()) {
        let _ = tosca::check_str(&s, "a.yaml");
        run(&s);
    }

    #[test]
    fn mutated_sample_never_panics(cut in 0usize..4000, junk in "[ :\\-\\[\\]{}a-z0-9\n]{0,8}") {
        let base = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../samples/packages/k8s_cluster_with_pv/Definitions/sample_kubernetes_df_simple.yaml"
        )).expect("sample");
        let mut cut = cut.min(base.len());
        while !base.is_char_boundary(cut) { cut -= 1; }
        let text = format!("{}{junk}{}", &base[..cut], &base[cut..]);
        run(&text);
    }
}

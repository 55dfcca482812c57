//! The checkers never panic on arbitrary input.

mod common;

use hot_templates::{Template, check_base_hot, check_template, line_of_pointer};
use indexmap::IndexMap;
use proptest::prelude::*;
use serde_json::Value;
use vnf_package::Report;

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        "[a-z_:]{0,12}".prop_map(Value::String),
        prop::sample::select(vec![
            "get_param",
            "get_resource",
            "get_attr",
            "list_join",
            "str_replace",
            "nfv",
            "resources",
            "parameters",
            "type",
            "OS::Nova::Server",
            "depends_on",
            "VDU",
            "CP",
        ])
        .prop_map(|s| Value::String(s.to_string())),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::vec(
                (
                    prop::sample::select(vec![
                        "get_param",
                        "get_resource",
                        "get_attr",
                        "list_join",
                        "str_replace",
                        "resources",
                        "parameters",
                        "type",
                        "properties",
                        "depends_on",
                        "template",
                        "params",
                        "heat_template_version",
                        "resource",
                        "x",
                    ]),
                    inner
                ),
                0..4
            )
            .prop_map(|kv| Value::Object(
                kv.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
            )),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn check_template_never_panics(v in json_value(), nested in json_value()) {
        let mut files = IndexMap::new();
        files.insert("x".to_string(), Template(nested));
        let mut r = Report::new();
        check_template("t.yaml", &Template(v), &files, &mut r);
    }

    #[test]
    fn check_base_hot_never_panics(top in "[ -~\n]{0,300}", nested in "[ -~\n]{0,200}") {
        let files = vec![
            ("BaseHOT/simple/top.yaml".to_string(), top.clone()),
            ("BaseHOT/simple/nested/n.yaml".to_string(), nested),
        ];
        let mut r = Report::new();
        check_base_hot(&files, &common::vnfd(), "simple", &mut r);
        let _ = line_of_pointer(&top, "/resources/a/0/b");
    }

    #[test]
    fn check_base_hot_never_panics_on_yaml_shaped_input(v in json_value()) {
        let text = serde_saphyr::to_string(&v).unwrap_or_default();
        let files = vec![("BaseHOT/simple/top.yaml".to_string(), text)];
        let mut r = Report::new();
        check_base_hot(&files, &common::vnfd(), "simple", &mut r);
    }
}

//! TOSCA parser behaviour on small in-memory service templates.

use vnf_package::tosca::{self, MemFiles, TypeKind, codes};
use vnf_package::{Report, Severity};

const HEAD: &str = "tosca_definitions_version: tosca_simple_yaml_1_3\n";

fn load(files: &[(&str, &str)], entry: &str) -> (Option<tosca::ServiceSet>, Report) {
    let mut r = Report::new();
    let set = tosca::load(&MemFiles::new(files.iter().copied()), entry, &mut r);
    (set, r)
}

fn errors(r: &Report) -> Vec<&'static str> {
    r.error_codes()
}

/// A one-file template with a data type and a node type, plus the given node templates.
fn with_nodes(nodes: &str) -> String {
    format!(
        "{HEAD}
data_types:
  my.Profile:
    derived_from: tosca.datatypes.Root
    properties:
      min: {{ type: integer, constraints: [ greater_or_equal: 0 ] }}
      max: {{ type: integer, required: false, default: 3 }}
node_types:
  my.Node:
    derived_from: tosca.nodes.Root
    properties:
      name: {{ type: string, constraints: [ min_length: 2, max_length: 8, pattern: '[a-z]+' ] }}
      size: {{ type: scalar-unit.size, required: false, constraints: [ in_range: [ 1 GB, 10 GiB ] ] }}
      kind: {{ type: string, required: false, constraints: [ valid_values: [ a, b ] ] }}
      count: {{ type: integer, required: false, constraints: [ less_than: 10, greater_than: 0 ] }}
      ratio: {{ type: float, required: false, constraints: [ less_or_equal: 1.5 ] }}
      exact: {{ type: string, required: false, constraints: [ equal: fixed ] }}
      tags: {{ type: list, required: false, entry_schema: {{ type: string, constraints: [ length: 3 ] }} }}
      labels: {{ type: map, required: false, entry_schema: {{ type: integer }} }}
      profile: {{ type: my.Profile, required: false }}
      flag: {{ type: boolean, required: false }}
    requirements:
      - peer: {{ capability: tosca.capabilities.Node }}
topology_template:
  inputs:
    wanted: {{ type: string }}
  node_templates:
{nodes}"
    )
}

#[test]
fn valid_template_has_no_findings() {
    let t = with_nodes(
        "    n1:
      type: my.Node
      properties:
        name: abc
        size: 4 GiB
        kind: a
        count: 5
        ratio: 1
        exact: fixed
        tags: [ abc, xyz ]
        labels: { x: 1 }
        profile: { min: 1 }
        flag: true
      requirements:
        - peer: n2
    n2:
      type: my.Node
      properties:
        name: { get_input: wanted }
      requirements:
        - peer:
            node: n1
",
    );
    let (set, r) = load(&[("a.yaml", &t)], "a.yaml");
    assert!(r.findings.is_empty(), "{:#?}", r.findings);
    let set = set.expect("set");
    let nt = &set
        .entry_template()
        .and_then(|t| t.topology.as_ref())
        .expect("topo")
        .node_templates["n1"];
    let eff = set
        .types
        .effective_properties(TypeKind::Node, &nt.type_name, &nt.properties);
    assert_eq!(eff["name"].as_str(), Some("abc"));
}

fn single_error(nodes: &str) -> (&'static str, Report) {
    let t = with_nodes(nodes);
    let (_, r) = load(&[("a.yaml", &t)], "a.yaml");
    let e = errors(&r);
    assert_eq!(e.len(), 1, "{:#?}", r.findings);
    (e[0], r)
}

#[test]
fn each_constraint_is_enforced() {
    let cases = [
        "name: a",              // min_length
        "name: abcdefghij",     // max_length
        "name: ABC",            // pattern
        "kind: c",              // valid_values
        "count: 10",            // less_than
        "count: 0",             // greater_than
        "ratio: 2.5",           // less_or_equal
        "exact: other",         // equal
        "size: 500 MB",         // in_range lower (scalar units compared canonically)
        "size: 11 GiB",         // in_range upper
        "tags: [ abcd ]",       // length on list entries
        "profile: { min: -1 }", // data type property constraint
    ];
    for c in cases {
        let nodes = format!(
            "    n1:\n      type: my.Node\n      properties:\n        name: abc\n        {c}\n"
        );
        let nodes = nodes.replacen("        name: abc\n        name:", "        name:", 1);
        let (code, _) = single_error(&nodes);
        assert_eq!(code, codes::CONSTRAINT.id, "case `{c}`");
    }
}

#[test]
fn wrong_types_missing_and_undefined_properties() {
    let cases = [
        ("count: '5'", codes::PROPERTY_TYPE),
        ("flag: yes", codes::PROPERTY_TYPE), // YAML 1.2: `yes` is a string
        ("labels: { x: one }", codes::PROPERTY_TYPE),
        ("tags: abc", codes::PROPERTY_TYPE),
        ("size: 5 XB", codes::SCALAR_UNIT),
        ("size: 5", codes::PROPERTY_TYPE),
        ("profile: { max: 2 }", codes::PROPERTY_MISSING),
        ("profile: { min: 1, other: 2 }", codes::PROPERTY_UNDEFINED),
        ("colour: red", codes::PROPERTY_UNDEFINED),
    ];
    for (c, expected) in cases {
        let nodes = format!(
            "    n1:\n      type: my.Node\n      properties:\n        name: abc\n        {c}\n"
        );
        let (code, _) = single_error(&nodes);
        assert_eq!(code, expected.id, "case `{c}`");
    }
    let (code, r) = single_error("    n1:\n      type: my.Node\n");
    assert_eq!(code, codes::PROPERTY_MISSING.id);
    assert!(r.findings[0].message.contains("`name`"));
}

#[test]
fn findings_carry_file_line_and_column() {
    let nodes =
        "    n1:\n      type: my.Node\n      properties:\n        name: abc\n        count: 42\n";
    let (_, r) = single_error(nodes);
    let f = &r.findings[0];
    assert_eq!(f.location.file.as_deref(), Some("a.yaml"));
    let text = with_nodes(nodes);
    let line = text
        .lines()
        .position(|l| l.contains("count: 42"))
        .expect("line")
        + 1;
    assert_eq!(f.location.line, Some(line as u32));
    assert_eq!(f.location.column, Some(16));
    assert_eq!(
        f.location.pointer.as_deref(),
        Some("/topology_template/node_templates/n1/properties/count")
    );
}

#[test]
fn references_are_checked() {
    let cases = [
        ("    n1:\n      type: my.Nope\n", codes::NODE_TYPE_UNKNOWN),
        (
            "    n1:\n      type: my.Node\n      properties: { name: abc }\n      requirements:\n        - peer: ghost\n",
            codes::REQUIREMENT_TARGET,
        ),
        (
            "    n1:\n      type: my.Node\n      properties: { name: abc }\n      requirements:\n        - friend: n1\n",
            codes::REQUIREMENT_UNDEFINED,
        ),
        (
            "    n1:\n      type: my.Node\n      properties: { name: { get_input: nope } }\n",
            codes::UNKNOWN_INPUT,
        ),
        (
            "    n1:\n      type: my.Node\n      properties: { name: abc }\n      artifacts:\n        a: { type: tosca.artifacts.Implementation.Python, file: missing.py }\n",
            codes::ARTIFACT_FILE,
        ),
        (
            "    n1:\n      type: my.Node\n      properties: { name: abc }\n      artifacts:\n        a: { type: my.Artifact, file: a.yaml }\n",
            codes::ARTIFACT_TYPE,
        ),
        (
            "    n1:\n      type: my.Node\n      properties: { name: abc }\n      interfaces:\n        Standard:\n          explode: x.sh\n",
            codes::OPERATION_UNKNOWN,
        ),
        (
            "    n1:\n      type: my.Node\n      properties: { name: abc }\n      interfaces:\n        Other:\n          create: x.sh\n",
            codes::INTERFACE_UNDEFINED,
        ),
        (
            "    n1:\n      type: my.Node\n      properties: { name: abc }\n  policies:\n    - p1:\n        type: tosca.policies.Placement\n        targets: [ ghost ]\n",
            codes::POLICY_TARGET,
        ),
        (
            "    n1:\n      type: my.Node\n      properties: { name: abc }\n  groups:\n    g1:\n      type: tosca.groups.Root\n      members: [ ghost ]\n",
            codes::GROUP_MEMBER,
        ),
    ];
    for (nodes, expected) in cases {
        let (code, _) = single_error(nodes);
        assert_eq!(code, expected.id, "case:\n{nodes}");
    }
}

#[test]
fn artifacts_resolve_relative_to_file_then_package() {
    let t = format!(
        "{HEAD}node_types:\n  my.N:\n    derived_from: tosca.nodes.Root\ntopology_template:\n  node_templates:\n    n:\n      type: my.N\n      artifacts:\n        rel: {{ type: tosca.artifacts.File, file: ../Scripts/a.py }}\n        pkg: {{ type: tosca.artifacts.File, file: Scripts/a.py }}\n        url: {{ type: tosca.artifacts.File, file: 'https://example.invalid/a.py' }}\n"
    );
    let (set, r) = load(
        &[("Definitions/t.yaml", &t), ("Scripts/a.py", "")],
        "Definitions/t.yaml",
    );
    assert!(r.ok(), "{:#?}", r.findings);
    assert_eq!(r.count(Severity::Info), 1);
    let set = set.expect("set");
    let arts = &set
        .entry_template()
        .and_then(|t| t.topology.as_ref())
        .expect("topo")
        .node_templates["n"]
        .artifacts;
    assert_eq!(arts["rel"].resolved.as_deref(), Some("Scripts/a.py"));
    assert_eq!(arts["pkg"].resolved.as_deref(), Some("Scripts/a.py"));
    assert!(arts["url"].external);
}

#[test]
fn imports_both_forms_relative_and_cycles() {
    let types = format!("{HEAD}node_types:\n  my.A:\n    derived_from: tosca.nodes.Root\n");
    let more = format!(
        "{HEAD}imports:\n  - ../types/a.yaml\nnode_types:\n  my.B:\n    derived_from: my.A\n"
    );
    let top = format!(
        "{HEAD}imports:\n  - file: sub/more.yaml\n  - ../types/a.yaml\ntopology_template:\n  node_templates:\n    b: {{ type: my.B }}\n"
    );
    let (set, r) = load(
        &[
            ("defs/top.yaml", &top),
            ("defs/sub/more.yaml", &more),
            ("types/a.yaml", &types),
        ],
        "defs/top.yaml",
    );
    // `defs/sub/more.yaml` imports `../types/a.yaml` = `defs/types/a.yaml`: missing.
    assert_eq!(
        errors(&r),
        vec![codes::IMPORT_NOT_FOUND.id],
        "{:#?}",
        r.findings
    );
    let set = set.expect("set");
    assert!(set.templates.contains_key("types/a.yaml"));

    let a = format!("{HEAD}imports:\n  - b.yaml\n");
    let b = format!("{HEAD}imports:\n  - file: a.yaml\n");
    let (_, r) = load(&[("a.yaml", &a), ("b.yaml", &b)], "a.yaml");
    assert_eq!(errors(&r), vec![codes::IMPORT_CYCLE.id]);
    assert!(
        r.findings[0].message.contains("a.yaml → b.yaml → a.yaml"),
        "{}",
        r.findings[0]
    );

    let out = format!("{HEAD}imports:\n  - ../../etc/passwd\n");
    let (_, r) = load(&[("a.yaml", &out)], "a.yaml");
    assert_eq!(errors(&r), vec![codes::IMPORT_OUTSIDE.id]);
}

#[test]
fn derived_from_problems() {
    let t = format!(
        "{HEAD}node_types:\n  my.A:\n    derived_from: my.B\n  my.B:\n    derived_from: my.A\n  my.C:\n    derived_from: my.Missing\n"
    );
    let (set, r) = load(&[("a.yaml", &t)], "a.yaml");
    assert_eq!(
        errors(&r),
        vec![codes::TYPE_CYCLE.id, codes::TYPE_UNKNOWN_PARENT.id],
        "{:#?}",
        r.findings
    );
    let set = set.expect("set");
    // Chains stop at the cycle instead of looping.
    assert_eq!(set.types.ancestors(TypeKind::Node, "my.A").len(), 2);
    assert!(
        !set.types
            .derives_from(TypeKind::Node, "my.A", "tosca.nodes.Root")
    );
}

#[test]
fn versions_and_yaml_errors() {
    let (_, r) = load(
        &[(
            "a.yaml",
            "tosca_definitions_version: tosca_simple_yaml_1_0\n",
        )],
        "a.yaml",
    );
    assert_eq!(errors(&r), vec![codes::VERSION_UNSUPPORTED.id]);
    let (_, r) = load(&[("a.yaml", "description: x\n")], "a.yaml");
    assert_eq!(errors(&r), vec![codes::VERSION_MISSING.id]);
    let (set, r) = load(&[("a.yaml", "a: [1\n")], "a.yaml");
    assert!(set.is_none());
    assert_eq!(errors(&r), vec![codes::YAML_SYNTAX.id]);
    assert_eq!(r.findings[0].location.file.as_deref(), Some("a.yaml"));
    assert!(r.findings[0].location.line.is_some());
    for v in tosca::parse::VERSIONS {
        let (_, r) = load(
            &[("a.yaml", &format!("tosca_definitions_version: {v}\n"))],
            "a.yaml",
        );
        assert!(r.findings.is_empty(), "{v}: {:#?}", r.findings);
    }
}

#[test]
fn check_str_is_self_contained() {
    let r = tosca::check_str(&format!("{HEAD}imports: [ other.yaml ]\n"), "x.yaml");
    assert_eq!(errors(&r), vec![codes::IMPORT_NOT_FOUND.id]);
}

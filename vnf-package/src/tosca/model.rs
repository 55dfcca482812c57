//! The parsed (not yet type-checked) TOSCA service template.

use super::yaml::Node;
use crate::diag::Location;
use indexmap::IndexMap;

/// The eight kinds of TOSCA type definitions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TypeKind {
    /// `node_types`.
    Node,
    /// `data_types`.
    Data,
    /// `capability_types`.
    Capability,
    /// `relationship_types`.
    Relationship,
    /// `interface_types`.
    Interface,
    /// `artifact_types`.
    Artifact,
    /// `policy_types`.
    Policy,
    /// `group_types`.
    Group,
}

impl TypeKind {
    /// Every kind, in section order.
    pub const ALL: [TypeKind; 8] = [
        TypeKind::Data,
        TypeKind::Capability,
        TypeKind::Relationship,
        TypeKind::Interface,
        TypeKind::Artifact,
        TypeKind::Node,
        TypeKind::Policy,
        TypeKind::Group,
    ];

    /// The service-template section holding this kind, e.g. `node_types`.
    pub fn section(self) -> &'static str {
        match self {
            TypeKind::Node => "node_types",
            TypeKind::Data => "data_types",
            TypeKind::Capability => "capability_types",
            TypeKind::Relationship => "relationship_types",
            TypeKind::Interface => "interface_types",
            TypeKind::Artifact => "artifact_types",
            TypeKind::Policy => "policy_types",
            TypeKind::Group => "group_types",
        }
    }

    /// A human name, e.g. `node type`.
    pub fn noun(self) -> &'static str {
        match self {
            TypeKind::Node => "node type",
            TypeKind::Data => "data type",
            TypeKind::Capability => "capability type",
            TypeKind::Relationship => "relationship type",
            TypeKind::Interface => "interface type",
            TypeKind::Artifact => "artifact type",
            TypeKind::Policy => "policy type",
            TypeKind::Group => "group type",
        }
    }
}

/// A property (or input, or `entry_schema`) type with its constraints.
#[derive(Debug, Clone)]
pub struct Schema {
    /// Type name: a primitive (`string`, `integer`, `float`, `boolean`, `timestamp`,
    /// `version`, `range`, `list`, `map`, `scalar-unit.*`, `any`) or a data type.
    pub type_name: String,
    /// Constraints, in order.
    pub constraints: Vec<Constraint>,
    /// `entry_schema` for `list` / `map`.
    pub entry_schema: Option<Box<Schema>>,
    /// Where the `type` is written.
    pub location: Location,
}

/// A property definition.
#[derive(Debug, Clone)]
pub struct PropertyDef {
    /// Property name.
    pub name: String,
    /// Type and constraints.
    pub schema: Schema,
    /// `required` (TOSCA default: true).
    pub required: bool,
    /// `default`.
    pub default: Option<Node>,
    /// `description`.
    pub description: Option<String>,
    /// Where the definition is.
    pub location: Location,
}

/// A constraint clause.
#[derive(Debug, Clone)]
pub struct Constraint {
    /// The operator and operands.
    pub op: ConstraintOp,
    /// Where the clause is.
    pub location: Location,
}

/// Constraint operators of TOSCA Simple Profile 1.3 §3.6.3.
#[derive(Debug, Clone)]
pub enum ConstraintOp {
    /// `equal`.
    Equal(Node),
    /// `greater_than`.
    GreaterThan(Node),
    /// `greater_or_equal`.
    GreaterOrEqual(Node),
    /// `less_than`.
    LessThan(Node),
    /// `less_or_equal`.
    LessOrEqual(Node),
    /// `in_range: [lower, upper]` (`UNBOUNDED` allowed as upper).
    InRange(Node, Node),
    /// `valid_values`.
    ValidValues(Vec<Node>),
    /// `length`.
    Length(u64),
    /// `min_length`.
    MinLength(u64),
    /// `max_length`.
    MaxLength(u64),
    /// `pattern` (anchored at both ends, as TOSCA requires a full match).
    Pattern(String, regex::Regex),
}

impl ConstraintOp {
    /// The TOSCA keyword.
    pub fn keyword(&self) -> &'static str {
        match self {
            ConstraintOp::Equal(_) => "equal",
            ConstraintOp::GreaterThan(_) => "greater_than",
            ConstraintOp::GreaterOrEqual(_) => "greater_or_equal",
            ConstraintOp::LessThan(_) => "less_than",
            ConstraintOp::LessOrEqual(_) => "less_or_equal",
            ConstraintOp::InRange(..) => "in_range",
            ConstraintOp::ValidValues(_) => "valid_values",
            ConstraintOp::Length(_) => "length",
            ConstraintOp::MinLength(_) => "min_length",
            ConstraintOp::MaxLength(_) => "max_length",
            ConstraintOp::Pattern(..) => "pattern",
        }
    }
}

/// A requirement definition in a node type.
#[derive(Debug, Clone)]
pub struct RequirementDef {
    /// Requirement name.
    pub name: String,
    /// `capability` type.
    pub capability: Option<String>,
    /// `node` type.
    pub node: Option<String>,
    /// `relationship` type.
    pub relationship: Option<String>,
    /// Where the definition is.
    pub location: Location,
}

/// A type definition of any kind.
#[derive(Debug, Clone)]
pub struct TypeDef {
    /// Full type name, e.g. `tosca.nodes.nfv.Vdu.Compute`.
    pub name: String,
    /// Which section it is in.
    pub kind: TypeKind,
    /// `derived_from`, with where it is written.
    pub derived_from: Option<(String, Location)>,
    /// `description`.
    pub description: Option<String>,
    /// `properties` (own, not inherited).
    pub properties: IndexMap<String, PropertyDef>,
    /// `requirements` (node types).
    pub requirements: Vec<RequirementDef>,
    /// `capabilities`: name → capability type (node types).
    pub capabilities: IndexMap<String, (String, Location)>,
    /// `interfaces`: name → interface type (node, relationship types).
    pub interfaces: IndexMap<String, (String, Location)>,
    /// Operation names (interface types): every key other than the TOSCA keywords, plus
    /// the keys of an `operations` block (TOSCA 1.3).
    pub operations: Vec<String>,
    /// `targets` (policy types) / `members` (group types): allowed node or group types.
    pub targets: Vec<String>,
    /// Type-level `constraints` (data types derived from a primitive).
    pub constraints: Vec<Constraint>,
    /// Package-relative path of the defining file (`<normative>` for built-ins).
    pub file: String,
    /// Where the definition is.
    pub location: Location,
}

/// An `imports` entry.
#[derive(Debug, Clone)]
pub struct Import {
    /// The `file` as written.
    pub file: String,
    /// Where it is written.
    pub location: Location,
}

/// A requirement assignment in a node template.
#[derive(Debug, Clone)]
pub struct RequirementAssignment {
    /// Requirement name, e.g. `virtual_binding`.
    pub name: String,
    /// Target node template (or node type) name.
    pub node: Option<String>,
    /// `capability`.
    pub capability: Option<String>,
    /// `relationship`.
    pub relationship: Option<String>,
    /// Where the assignment is.
    pub location: Location,
    /// Where the `node` value is (falls back to the assignment).
    pub node_location: Location,
}

/// An operation's `implementation`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Implementation {
    /// `implementation` (short form) or `implementation.primary`.
    pub primary: String,
    /// `implementation.dependencies`.
    pub dependencies: Vec<String>,
    /// Where the implementation is written.
    pub location: Location,
}

/// An operation assignment.
#[derive(Debug, Clone)]
pub struct Operation {
    /// Operation name.
    pub name: String,
    /// `implementation`, if any (`instantiate: []` counts as none).
    pub implementation: Option<Implementation>,
    /// `inputs`.
    pub inputs: IndexMap<String, Node>,
    /// Where the operation is.
    pub location: Location,
}

/// An interface assignment in a node template.
#[derive(Debug, Clone)]
pub struct InterfaceAssignment {
    /// Interface name, e.g. `Vnflcm`.
    pub name: String,
    /// Operations, in order.
    pub operations: IndexMap<String, Operation>,
    /// Where the interface is.
    pub location: Location,
}

/// An artifact definition in a node template.
#[derive(Debug, Clone)]
pub struct ArtifactDef {
    /// Artifact name.
    pub name: String,
    /// `type`.
    pub artifact_type: String,
    /// `file` as written.
    pub file: String,
    /// Package-relative path when `file` resolves inside the package (relative to the
    /// defining file first, then to the package root), else None.
    pub resolved: Option<String>,
    /// True for URLs and absolute paths (not checked against the package).
    pub external: bool,
    /// `description`.
    pub description: Option<String>,
    /// Where the artifact is.
    pub location: Location,
    /// Where `type` is written.
    pub type_location: Location,
}

/// A node template.
#[derive(Debug, Clone)]
pub struct NodeTemplate {
    /// Node template name.
    pub name: String,
    /// `type`.
    pub type_name: String,
    /// `description`.
    pub description: Option<String>,
    /// `properties` as written.
    pub properties: IndexMap<String, Node>,
    /// Requirement assignments, in order.
    pub requirements: Vec<RequirementAssignment>,
    /// Capability assignments: name → properties.
    pub capabilities: IndexMap<String, (IndexMap<String, Node>, Location)>,
    /// Interface assignments.
    pub interfaces: IndexMap<String, InterfaceAssignment>,
    /// Artifacts.
    pub artifacts: IndexMap<String, ArtifactDef>,
    /// Where the node template is.
    pub location: Location,
    /// Where `type` is written.
    pub type_location: Location,
    /// YAML path of the node template.
    pub pointer: String,
}

/// A policy.
#[derive(Debug, Clone)]
pub struct Policy {
    /// Policy name.
    pub name: String,
    /// `type`.
    pub type_name: String,
    /// `properties` as written.
    pub properties: IndexMap<String, Node>,
    /// `targets` (node templates or groups) with their locations.
    pub targets: Vec<(String, Location)>,
    /// Where the policy is.
    pub location: Location,
    /// Where `type` is written.
    pub type_location: Location,
    /// YAML path of the policy.
    pub pointer: String,
}

/// A group.
#[derive(Debug, Clone)]
pub struct Group {
    /// Group name.
    pub name: String,
    /// `type`.
    pub type_name: String,
    /// `properties` as written.
    pub properties: IndexMap<String, Node>,
    /// `members` with their locations.
    pub members: Vec<(String, Location)>,
    /// Where the group is.
    pub location: Location,
    /// Where `type` is written.
    pub type_location: Location,
    /// YAML path of the group.
    pub pointer: String,
}

/// `substitution_mappings`.
#[derive(Debug, Clone)]
pub struct SubstitutionMappings {
    /// `node_type`.
    pub node_type: String,
    /// `properties` as written.
    pub properties: IndexMap<String, Node>,
    /// `requirements`: name → `[node_template, requirement]`.
    pub requirements: IndexMap<String, (String, String, Location)>,
    /// Where the block is.
    pub location: Location,
    /// Where `node_type` is written.
    pub node_type_location: Location,
}

/// `topology_template`.
#[derive(Debug, Clone, Default)]
pub struct Topology {
    /// `description`.
    pub description: Option<String>,
    /// `inputs`.
    pub inputs: IndexMap<String, PropertyDef>,
    /// `node_templates`.
    pub node_templates: IndexMap<String, NodeTemplate>,
    /// `policies` (list or map form), in order.
    pub policies: Vec<Policy>,
    /// `groups`.
    pub groups: IndexMap<String, Group>,
    /// `substitution_mappings`.
    pub substitution: Option<SubstitutionMappings>,
    /// Where the block is.
    pub location: Location,
}

/// One parsed YAML file of the service template.
#[derive(Debug, Clone)]
pub struct ServiceTemplate {
    /// Package-relative path.
    pub file: String,
    /// `tosca_definitions_version`.
    pub version: String,
    /// `description`.
    pub description: Option<String>,
    /// `metadata` as written.
    pub metadata: IndexMap<String, Node>,
    /// `imports`.
    pub imports: Vec<Import>,
    /// Type definitions of every kind, in file order.
    pub types: Vec<TypeDef>,
    /// `topology_template`.
    pub topology: Option<Topology>,
}

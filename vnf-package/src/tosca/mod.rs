//! Our own TOSCA Simple Profile in YAML 1.2/1.3 parser: service templates, imports, type
//! definitions with `derived_from`, properties and constraints, scalar units. Every error
//! carries file, line and column.
//!
//! Layers: [`yaml`] (positioned YAML tree) → [`parse`] (one file → [`ServiceTemplate`],
//! shape errors) → [`load`] (imports, relative to the importing file, cycles detected) →
//! [`check`] (type registry with the built-in normative types, `derived_from` chains,
//! property type-checking and constraints, references between templates).
//!
//! The entry points that take only a `&str` ([`parse_str`], [`check_str`]) never read
//! files and never panic, so they can be fuzzed directly.

pub mod check;
pub mod model;
pub mod parse;
pub mod scalar;
pub mod yaml;

pub use check::{TypeRegistry, normalize, resolve};
pub use model::*;
pub use parse::parse_str;

use crate::diag::{Location, Report};
use indexmap::IndexMap;
use std::collections::BTreeMap;
use std::path::PathBuf;

pub mod codes {
    //! Finding codes of the TOSCA layer.
    crate::codes! {
        /// A YAML document cannot be parsed.
        YAML_SYNTAX = "tosca.yaml.syntax";
        /// A file named by the entry definitions or an import cannot be read.
        FILE_UNREADABLE = "tosca.file.unreadable";
        /// `tosca_definitions_version` is missing.
        VERSION_MISSING = "tosca.version.missing";
        /// `tosca_definitions_version` is not tosca_simple_yaml_1_2 or _1_3.
        VERSION_UNSUPPORTED = "tosca.version.unsupported";
        /// A section has the wrong YAML shape (e.g. a list where a map is required).
        STRUCTURE = "tosca.template.structure";
        /// An unknown top-level key in a service template.
        UNKNOWN_KEY = "tosca.template.unknown_key";
        /// An imported file does not exist in the package.
        IMPORT_NOT_FOUND = "tosca.import.not_found";
        /// An import path is absolute or escapes the package root.
        IMPORT_OUTSIDE = "tosca.import.outside_package";
        /// Imports form a cycle.
        IMPORT_CYCLE = "tosca.import.cycle";
        /// An import is a URL; it is not fetched.
        IMPORT_REMOTE = "tosca.import.remote";
        /// A type is defined more than once; the first definition is used.
        TYPE_DUPLICATE = "tosca.type.duplicate";
        /// `derived_from` names a type that does not exist.
        TYPE_UNKNOWN_PARENT = "tosca.type.unknown_parent";
        /// A `derived_from` chain loops back to itself.
        TYPE_CYCLE = "tosca.type.derivation_cycle";
        /// A definition refers to a data, capability, interface, relationship or node type that does not exist.
        TYPE_UNKNOWN = "tosca.type.unknown";
        /// A node template's `type` is not a known node type.
        NODE_TYPE_UNKNOWN = "tosca.node_template.unknown_type";
        /// A property is assigned that its type does not define.
        PROPERTY_UNDEFINED = "tosca.property.undefined";
        /// A required property (without default) is missing.
        PROPERTY_MISSING = "tosca.property.missing_required";
        /// A property value has the wrong type.
        PROPERTY_TYPE = "tosca.property.wrong_type";
        /// A property value violates a constraint.
        CONSTRAINT = "tosca.property.constraint_violation";
        /// A constraint clause is malformed or cannot apply to the value.
        CONSTRAINT_INVALID = "tosca.constraint.invalid";
        /// A scalar-unit value (`5 GB`) is malformed or has an unknown unit.
        SCALAR_UNIT = "tosca.scalar_unit.invalid";
        /// `get_input` names an input the topology does not declare.
        UNKNOWN_INPUT = "tosca.function.unknown_input";
        /// A node template assigns a requirement its type does not define.
        REQUIREMENT_UNDEFINED = "tosca.requirement.undefined";
        /// A requirement names a node template that does not exist.
        REQUIREMENT_TARGET = "tosca.requirement.unknown_target";
        /// A node template assigns a capability its type does not define.
        CAPABILITY_UNDEFINED = "tosca.capability.undefined";
        /// A node template assigns an interface its type does not define.
        INTERFACE_UNDEFINED = "tosca.interface.undefined";
        /// An interface assignment names an operation its interface type does not define.
        OPERATION_UNKNOWN = "tosca.interface.unknown_operation";
        /// An artifact's `type` is not a known artifact type.
        ARTIFACT_TYPE = "tosca.artifact.unknown_type";
        /// An artifact's `file` is not in the package.
        ARTIFACT_FILE = "tosca.artifact.file_missing";
        /// An artifact points outside the package (URL or absolute path); not checked.
        ARTIFACT_REMOTE = "tosca.artifact.remote";
        /// A policy's `type` is not a known policy type.
        POLICY_TYPE = "tosca.policy.unknown_type";
        /// A policy target is neither a node template nor a group.
        POLICY_TARGET = "tosca.policy.unknown_target";
        /// A group's `type` is not a known group type.
        GROUP_TYPE = "tosca.group.unknown_type";
        /// A group member is not a node template.
        GROUP_MEMBER = "tosca.group.unknown_member";
        /// `substitution_mappings.node_type` is not a known node type.
        SUBSTITUTION_TYPE = "tosca.substitution.unknown_node_type";
        /// A substitution requirement maps to a node template that does not exist.
        SUBSTITUTION_TARGET = "tosca.substitution.unknown_target";
    }
}

/// Read access to the files of a package, by package-relative path.
///
/// Implemented by [`MemFiles`], [`DirFiles`] and the archive layer's `Package`.
pub trait Files {
    /// The UTF-8 text of a package file.
    fn read_text(&self, rel: &str) -> Result<String, String>;
    /// True when the package holds this file.
    fn contains(&self, rel: &str) -> bool;
}

/// An in-memory package (tests, fuzzing).
#[derive(Debug, Clone, Default)]
pub struct MemFiles(pub BTreeMap<String, String>);

impl MemFiles {
    /// An in-memory package from `(path, text)` pairs.
    pub fn new<'a>(files: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        MemFiles(
            files
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
        )
    }
}

impl Files for MemFiles {
    fn read_text(&self, rel: &str) -> Result<String, String> {
        self.0
            .get(rel)
            .cloned()
            .ok_or_else(|| format!("no file `{rel}`"))
    }
    fn contains(&self, rel: &str) -> bool {
        self.0.contains_key(rel)
    }
}

/// A package unpacked in a directory.
#[derive(Debug, Clone)]
pub struct DirFiles(pub PathBuf);

impl DirFiles {
    fn path(&self, rel: &str) -> Option<PathBuf> {
        normalize(rel).map(|r| self.0.join(r))
    }
}

impl Files for DirFiles {
    fn read_text(&self, rel: &str) -> Result<String, String> {
        let p = self
            .path(rel)
            .ok_or_else(|| format!("`{rel}` is not a package-relative path"))?;
        std::fs::read_to_string(&p).map_err(|e| format!("{}: {e}", p.display()))
    }
    fn contains(&self, rel: &str) -> bool {
        self.path(rel).is_some_and(|p| p.is_file())
    }
}

/// A loaded service: the entry file, every file it imports (transitively), and the
/// type registry over all of them plus the normative types.
#[derive(Debug, Clone)]
pub struct ServiceSet {
    /// Package-relative path of the entry definitions.
    pub entry: String,
    /// Every parsed file, imports before importers (the entry file is last).
    pub templates: IndexMap<String, ServiceTemplate>,
    /// All type definitions.
    pub types: TypeRegistry,
}

impl ServiceSet {
    /// The entry service template.
    pub fn entry_template(&self) -> Option<&ServiceTemplate> {
        self.templates.get(&self.entry)
    }
}

const MAX_IMPORT_DEPTH: usize = 64;

/// Loads the entry definitions and everything they import, then type-checks the whole
/// service. Findings go to `report`; `None` only when the entry file itself cannot be
/// read or parsed.
pub fn load(files: &dyn Files, entry: &str, report: &mut Report) -> Option<ServiceSet> {
    let entry = normalize(entry).unwrap_or_else(|| entry.to_owned());
    let text = match files.read_text(&entry) {
        Ok(t) => t,
        Err(e) => {
            report.error(
                codes::FILE_UNREADABLE,
                format!("cannot read entry definitions: {e}"),
                Location::file(&entry),
            );
            return None;
        }
    };
    let root = parse_str(&text, &entry, report)?;
    let mut templates = IndexMap::new();
    let mut stack = vec![entry.clone()];
    visit(files, root, &mut stack, &mut templates, report);
    let mut types = TypeRegistry::normative();
    for t in templates.values() {
        for ty in &t.types {
            if let Some(prev) = types.add(ty.clone()) {
                let where_ = if prev.file == check::NORMATIVE_FILE {
                    "built-in normative types".to_owned()
                } else {
                    prev.location.to_string()
                };
                report.warning(
                    codes::TYPE_DUPLICATE,
                    format!(
                        "{} `{}` is already defined ({where_}); this definition is ignored",
                        ty.kind.noun(),
                        ty.name
                    ),
                    ty.location.clone(),
                );
            }
        }
    }
    let mut set = ServiceSet {
        entry,
        templates,
        types,
    };
    check::check_service(&mut set, files, report);
    Some(set)
}

fn visit(
    files: &dyn Files,
    t: ServiceTemplate,
    stack: &mut Vec<String>,
    done: &mut IndexMap<String, ServiceTemplate>,
    report: &mut Report,
) {
    for imp in &t.imports {
        if imp.file.contains("://") {
            report.warning(
                codes::IMPORT_REMOTE,
                format!(
                    "import `{}` is a URL and is not fetched; ship the file in the package",
                    imp.file
                ),
                imp.location.clone(),
            );
            continue;
        }
        let Some(target) = resolve(&t.file, &imp.file) else {
            report.error(
                codes::IMPORT_OUTSIDE,
                format!(
                    "import `{}` is absolute or leaves the package root",
                    imp.file
                ),
                imp.location.clone(),
            );
            continue;
        };
        if let Some(pos) = stack.iter().position(|f| *f == target) {
            let mut chain: Vec<&str> = stack[pos..].iter().map(String::as_str).collect();
            chain.push(&target);
            report.error(
                codes::IMPORT_CYCLE,
                format!("import cycle: {}", chain.join(" → ")),
                imp.location.clone(),
            );
            continue;
        }
        if done.contains_key(&target) {
            continue;
        }
        if stack.len() > MAX_IMPORT_DEPTH {
            report.error(
                codes::IMPORT_CYCLE,
                format!("imports nest deeper than {MAX_IMPORT_DEPTH} files"),
                imp.location.clone(),
            );
            continue;
        }
        if !files.contains(&target) {
            report.error(
                codes::IMPORT_NOT_FOUND,
                format!(
                    "import `{}` (resolved to `{target}`) is not in the package",
                    imp.file
                ),
                imp.location.clone(),
            );
            continue;
        }
        let text = match files.read_text(&target) {
            Ok(s) => s,
            Err(e) => {
                report.error(
                    codes::FILE_UNREADABLE,
                    format!("cannot read import `{target}`: {e}"),
                    imp.location.clone(),
                );
                continue;
            }
        };
        let Some(child) = parse_str(&text, &target, report) else {
            continue;
        };
        stack.push(target);
        visit(files, child, stack, done, report);
        stack.pop();
    }
    done.insert(t.file.clone(), t);
}

/// Parses and type-checks a single self-contained service template given as text
/// (imports are reported as missing). Pure and panic-free: the fuzzing entry point.
pub fn check_str(text: &str, file: &str) -> Report {
    let mut report = Report::new();
    let files = MemFiles::new([(file, text)]);
    let _ = load(&files, file, &mut report);
    report
}

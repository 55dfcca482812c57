//! Our own TOSCA Simple Profile in YAML 1.2/1.3 parser: service templates, imports, type
//! definitions with `derived_from`, properties and constraints, scalar units. Every error
//! carries file, line and column.

pub mod codes {
    //! Finding codes of the TOSCA layer.
    crate::codes! {
        /// A YAML document cannot be parsed.
        YAML_SYNTAX = "tosca.yaml.syntax";
    }
}

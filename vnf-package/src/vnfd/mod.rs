//! The SOL001 VNFD: typed model ([`model`]) built from TOSCA service templates, and the
//! cross-checks between its parts.

pub mod model;

pub use model::*;

pub mod codes {
    //! Finding codes of the VNFD layer.
    crate::codes! {
        /// No VNF node could be found in the entry definitions.
        NO_VNF_NODE = "vnfd.vnf.missing";
    }
}

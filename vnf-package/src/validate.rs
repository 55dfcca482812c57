//! Whole-package validation: package → VNFD → request, every finding collected.

pub mod codes {
    //! Finding codes of the orchestration layer.
    crate::codes! {
        /// The requested flavour does not exist in the VNFD.
        UNKNOWN_FLAVOUR = "validate.flavour.unknown";
    }
}

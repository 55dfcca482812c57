//! SOL004 package access: directory or CSAR zip, `TOSCA-Metadata/TOSCA.meta`, the `.mf`
//! manifest, streaming parallel digest verification, and `pack`.

pub mod codes {
    //! Finding codes of the archive layer.
    crate::codes! {
        /// The package path cannot be read.
        IO = "package.io";
    }
}

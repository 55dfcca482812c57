//! The SOL003 instantiate request and the Kubernetes driver's `additionalParams`:
//! typed model ([`model`]), loading with JSON-pointer locations, JSON Schema, and the
//! checks against a package.

pub mod model;

pub use model::*;

pub mod codes {
    //! Finding codes of the request layer.
    crate::codes! {
        /// The request file is not valid JSON.
        JSON_SYNTAX = "request.json.syntax";
    }
}

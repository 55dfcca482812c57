//! hot-templates: turns a validated VNFD flavour plus an instantiate request into Heat
//! templates (HOT) and their `nfv` parameter, and checks hand-written BaseHOT templates.
//!
//! It never talks to OpenStack.
//!
//! - [`generate`]: VNFD + flavour + level + request → [`HotBundle`] (top template, one
//!   nested template per scaling aspect keyed `nested/<aspect>.yaml`, parameter values).
//! - [`nfv_parameters`]: the `nfv` parameter exactly as Tacker's UserData computes it.
//! - [`check_template`] / [`check_bundle`]: Heat template grammar and references.
//! - [`check_base_hot`]: a package's `BaseHOT/<flavour>/` against the VNFD naming contract.
//!
//! Every finding and error has a stable `hot.*` code, listed by [`all_codes`].

pub mod base_hot;
pub mod check;
pub mod codes;
pub mod error;
pub mod generate;
mod lines;
pub mod nfv;
pub mod template;

pub use base_hot::check_base_hot;
pub use check::{check_bundle, check_template};
pub use error::HotError;
pub use generate::{generate, nested_file_name};
pub use lines::line_of_pointer;
pub use nfv::nfv_parameters;
pub use template::{HEAT_TEMPLATE_VERSION, HotBundle, Template, YamlError};

use vnf_package::Code;

/// Every code this crate can report or return.
pub fn all_codes() -> &'static [Code] {
    codes::ALL
}

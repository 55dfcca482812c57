//! vnf-package: bytes in, a validated model out.
//!
//! Reads an ETSI SOL004 VNF package (a directory or a CSAR zip), verifies its manifest
//! digests, parses its SOL001 VNFD with our own TOSCA parser, and checks a SOL003
//! `InstantiateVnfRequest` (with the Kubernetes driver's `additionalParams`) against it.
//! Every problem becomes a [`diag::Finding`] with a stable code and a location
//! (file, line, column or JSON pointer); validation reports all findings, not the first.
//!
//! What this crate deliberately does not do: network access (remote manifest `Source`
//! URLs are reported, never fetched), Heat templates, SSH, Kubernetes.

pub mod archive;
pub mod diag;
pub mod request;
pub mod tosca;
pub mod validate;
pub mod vnfd;

pub use diag::{Code, Finding, Location, Report, Severity};

//! Whole-package validation: package → digests → VNFD → request, every finding
//! collected in one [`Report`]. This is what `vnf-mgmt validate` and the Python
//! `vnf_mgmt.validate` run.

use crate::archive::{self, Package};
use crate::diag::Report;
use crate::request::{self, InstantiateVnfRequest, PackageContext, RequestSource};
use crate::vnfd::{self, Vnfd};
use std::path::{Path, PathBuf};

/// What to check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    /// Verify every manifest / TOSCA.meta digest (streams every file; default on).
    pub verify_digests: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            verify_digests: true,
        }
    }
}

/// A path that could not be read at all (→ exit status 2), as opposed to findings.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The package path cannot be read.
    #[error(transparent)]
    Package(#[from] archive::Error),
    /// The request file cannot be read.
    #[error("cannot read request {}: {source}", path.display())]
    Request {
        /// The request path.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// The outcome: findings plus whatever could be parsed.
#[derive(Debug, Default)]
pub struct Validated {
    /// Every finding, in order.
    pub report: Report,
    /// The opened package.
    pub package: Option<Package>,
    /// The VNFD, when it could be built.
    pub vnfd: Option<Vnfd>,
    /// The typed request, when one was given and it deserialized.
    pub request: Option<InstantiateVnfRequest>,
}

/// Validates a package (directory or CSAR) and, when given, an instantiate request
/// against it. `Err` only when a path cannot be read.
pub fn validate(
    package: &Path,
    request: Option<&Path>,
    opts: &Options,
) -> Result<Validated, Error> {
    // Read the request first: an unreadable request is a usage error, reported before
    // any (possibly long) digest verification.
    let source = request
        .map(|p| {
            RequestSource::read(p).map_err(|source| Error::Request {
                path: p.to_path_buf(),
                source,
            })
        })
        .transpose()?;

    let mut report = Report::new();
    let pkg = Package::open(package, &mut report)?;
    if opts.verify_digests {
        pkg.verify_digests(&mut report);
    }
    let vnfd = vnfd::load(&pkg, &mut report);
    let request = source.and_then(|src| {
        let ctx = vnfd.as_ref().map(|v| PackageContext {
            files: &pkg,
            vnfd: v,
        });
        request::validate(&src, ctx, &mut report)
    });
    Ok(Validated {
        report,
        package: Some(pkg),
        vnfd,
        request,
    })
}

pub mod codes {
    //! Finding codes of the orchestration layer (none yet: each layer reports its own).
    crate::codes! {}
}

//! HOT generation from a package path and a request file (the `vnf-mgmt hot` pipeline).

use std::path::Path;

/// Why a bundle could not be generated.
#[derive(Debug, thiserror::Error)]
pub enum HotError {
    /// The package or request could not be read.
    #[error(transparent)]
    Read(#[from] vnf_package::validate::Error),
    /// The package or request is invalid.
    #[error(transparent)]
    Invalid(#[from] crate::validate::Invalid),
    /// Generation failed.
    #[error(transparent)]
    Generate(#[from] hot_templates::HotError),
}

/// Validates the package and request, then generates the bundle for the flavour
/// (default: the request's `flavourId`) and level (default: the request's, else the
/// flavour's default level).
pub fn generate_for_package(
    package: &Path,
    request: &Path,
    flavour: Option<&str>,
    level: Option<&str>,
) -> Result<hot_templates::HotBundle, HotError> {
    let v = crate::validate::validate(
        package,
        Some(request),
        &crate::validate::Options {
            verify_digests: false,
        },
    )?;
    let (Some(vnfd), Some(req)) = (&v.inner.vnfd, &v.inner.request) else {
        return Err(invalid(package, v.report).into());
    };
    if v.report.has_errors() {
        return Err(invalid(package, v.report).into());
    }
    let flavour = flavour.unwrap_or(&req.flavour_id);
    let level = level.or(req.instantiation_level_id.as_deref());
    Ok(hot_templates::generate(vnfd, flavour, level, req)?)
}

fn invalid(package: &Path, report: vnf_package::Report) -> crate::validate::Invalid {
    crate::validate::Invalid {
        what: package.display().to_string(),
        errors: report.count(vnf_package::Severity::Error),
        report,
    }
}

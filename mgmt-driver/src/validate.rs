//! Package + VNFD + request + hand-written BaseHOT validation, composed for the CLI and
//! the Python bindings.

use std::path::Path;
use vnf_package::{Code, Report};

pub use vnf_package::validate::Options;

/// The result of validating a package (and optionally a request).
#[derive(Debug)]
pub struct Validated {
    /// Every finding.
    pub report: Report,
    /// Notes about what was not checked (e.g. digests skipped).
    pub notes: Vec<String>,
    /// The parsed package pieces, when parsing got that far.
    pub inner: vnf_package::validate::Validated,
}

/// Input that failed validation; maps to exit status 1.
#[derive(Debug, thiserror::Error)]
#[error("{what} is invalid ({errors} error(s)); run `vnf-mgmt validate` for the findings")]
pub struct Invalid {
    /// What was validated.
    pub what: String,
    /// Number of errors.
    pub errors: usize,
    /// The findings.
    pub report: Report,
}

/// Validates a package directory or CSAR and, if given, an instantiate request against it.
///
/// `Err` only when the package or request path cannot be read at all.
pub fn validate(
    package: &Path,
    request: Option<&Path>,
    opts: &Options,
) -> Result<Validated, vnf_package::validate::Error> {
    let mut inner = vnf_package::validate::validate(package, request, opts)?;
    let mut report = std::mem::take(&mut inner.report);
    if let (Some(pkg), Some(vnfd)) = (&inner.package, &inner.vnfd) {
        check_package_base_hot(pkg, vnfd, &mut report);
    }
    let mut notes = Vec::new();
    if !opts.verify_digests {
        notes.push("artifact digests were not verified (--no-digests)".to_string());
    }
    Ok(Validated {
        report,
        notes,
        inner,
    })
}

/// Checks every hand-written `BaseHOT/<flavour>/` (Tacker's layout: the top template in
/// that directory, nested templates in `nested/`) against the VNFD's naming contract.
pub fn check_package_base_hot(
    pkg: &vnf_package::archive::Package,
    vnfd: &vnf_package::vnfd::Vnfd,
    report: &mut Report,
) {
    let files = pkg.files();
    for flavour in vnfd.flavours.keys() {
        let prefix = format!("BaseHOT/{flavour}/");
        let mut texts = Vec::new();
        for f in files.iter().filter(|f| f.starts_with(&prefix)) {
            let rest = &f[prefix.len()..];
            let is_yaml = rest.ends_with(".yaml") || rest.ends_with(".yml");
            let depth_ok = !rest.contains('/')
                || rest.starts_with("nested/") && rest.matches('/').count() == 1;
            if !is_yaml || !depth_ok {
                continue;
            }
            match pkg.read_text(f) {
                Ok(t) => texts.push((f.clone(), t)),
                // Unreadable files are already reported by the archive layer.
                Err(_) => continue,
            }
        }
        if !texts.is_empty() {
            hot_templates::check_base_hot(&texts, vnfd, flavour, report);
        }
    }
}

/// Every stable code vnf-mgmt can report — validation findings and driver errors —
/// across crates.
pub fn all_codes() -> Vec<Code> {
    let mut v = vnf_package::diag::all_codes();
    v.extend_from_slice(hot_templates::all_codes());
    v.extend(crate::driver::all_codes());
    v
}

/// The Markdown catalogue of codes checked in as `docs/error-codes.md`.
pub fn error_code_catalogue() -> String {
    let mut codes = all_codes();
    codes.sort_by_key(|c| c.id);
    let mut s = String::from(
        "# Finding codes\n\n\
         Generated from the code (`VNF_MGMT_BLESS=1 cargo test -p mgmt-driver --test it error_codes`).\n\
         Codes are stable and append-only; messages may change. `vnf-mgmt validate --format json`\n\
         reports them in `findings[].code`; the driver's errors (`driver.*`) appear in error\n\
         messages, events and the Python exceptions' `.code`.\n\n\
         | code | meaning |\n|---|---|\n",
    );
    for c in codes {
        s.push_str(&format!("| `{}` | {} |\n", c.id, c.summary.trim()));
    }
    s
}

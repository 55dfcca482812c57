//! Findings, severities, locations and stable codes shared by every check.
//!
//! A code is a dotted snake_case identifier such as `package.manifest.digest_mismatch`.
//! Codes are append-only: once published, a code keeps its meaning; messages may change.

use serde::{Serialize, Serializer};
use std::fmt;

/// A stable, documented finding code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Code {
    /// Dotted snake_case identifier, e.g. `package.manifest.digest_mismatch`.
    pub id: &'static str,
    /// One-line description for the error-code catalogue.
    pub summary: &'static str,
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id)
    }
}

impl Serialize for Code {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.id)
    }
}

/// Declares a module's codes as constants plus an `ALL` slice.
///
/// ```text
/// codes! {
///     /// The manifest digest does not match the file.
///     DIGEST_MISMATCH = "package.manifest.digest_mismatch";
/// }
/// ```
#[macro_export]
macro_rules! codes {
    ($( $(#[doc = $doc:literal])+ $name:ident = $id:literal; )*) => {
        $(
            $(#[doc = $doc])+
            pub const $name: $crate::diag::Code =
                $crate::diag::Code { id: $id, summary: $crate::__first_doc!($($doc),+) };
        )*
        /// Every code declared in this module.
        pub const ALL: &[$crate::diag::Code] = &[$($name),*];
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __first_doc {
    ($first:literal $(, $rest:literal)*) => {
        $first
    };
}

/// How bad a finding is. Only `Error` makes a package or request invalid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The input is invalid; nothing may act on it.
    Error,
    /// Suspicious or non-portable, but usable.
    Warning,
    /// Worth knowing (e.g. a remote artifact that was not fetched).
    Info,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "info",
        })
    }
}

/// Where a finding is. Every field is optional; fill in as much as is known.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct Location {
    /// Package-relative path (`Definitions/df_simple.yaml`) or, for files outside the
    /// package such as a request, the path as given by the user.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// 1-based line.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
    /// 1-based column.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<u32>,
    /// JSON pointer (RFC 6901) into a JSON document, or a YAML path such as
    /// `/topology_template/node_templates/masterNode/properties/vdu_profile`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pointer: Option<String>,
}

impl Location {
    /// A location naming only a file.
    pub fn file(file: impl Into<String>) -> Self {
        Location {
            file: Some(file.into()),
            ..Default::default()
        }
    }

    /// A location in a file at a 1-based line and column.
    pub fn at(file: impl Into<String>, line: u32, column: u32) -> Self {
        Location {
            file: Some(file.into()),
            line: Some(line),
            column: Some(column),
            pointer: None,
        }
    }

    /// Adds a JSON pointer / YAML path.
    pub fn with_pointer(mut self, pointer: impl Into<String>) -> Self {
        self.pointer = Some(pointer.into());
        self
    }

    /// True when nothing is known.
    pub fn is_empty(&self) -> bool {
        self.file.is_none() && self.line.is_none() && self.pointer.is_none()
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut wrote = false;
        if let Some(file) = &self.file {
            f.write_str(file)?;
            wrote = true;
            if let Some(line) = self.line {
                write!(f, ":{line}")?;
                if let Some(col) = self.column {
                    write!(f, ":{col}")?;
                }
            }
        }
        if let Some(p) = &self.pointer {
            if wrote {
                f.write_str(" ")?;
            }
            write!(f, "at {p}")?;
        }
        Ok(())
    }
}

/// One problem found in a package or request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// Stable code.
    pub code: Code,
    /// Error, warning or info.
    pub severity: Severity,
    /// Human-readable message; may be reworded between releases.
    pub message: String,
    /// Where the problem is.
    pub location: Location,
}

impl Finding {
    /// An error finding.
    pub fn error(code: Code, message: impl Into<String>, location: Location) -> Self {
        Finding {
            code,
            severity: Severity::Error,
            message: message.into(),
            location,
        }
    }

    /// A warning finding.
    pub fn warning(code: Code, message: impl Into<String>, location: Location) -> Self {
        Finding {
            code,
            severity: Severity::Warning,
            message: message.into(),
            location,
        }
    }

    /// An informational finding.
    pub fn info(code: Code, message: impl Into<String>, location: Location) -> Self {
        Finding {
            code,
            severity: Severity::Info,
            message: message.into(),
            location,
        }
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.location.is_empty() {
            write!(f, "{}[{}]: {}", self.severity, self.code, self.message)
        } else {
            write!(
                f,
                "{}[{}]: {}: {}",
                self.severity, self.code, self.location, self.message
            )
        }
    }
}

/// All findings of one validation run, in the order they were found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Report {
    /// The findings.
    pub findings: Vec<Finding>,
}

impl Report {
    /// An empty report.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a finding.
    pub fn push(&mut self, finding: Finding) {
        self.findings.push(finding);
    }

    /// Adds an error.
    pub fn error(&mut self, code: Code, message: impl Into<String>, location: Location) {
        self.push(Finding::error(code, message, location));
    }

    /// Adds a warning.
    pub fn warning(&mut self, code: Code, message: impl Into<String>, location: Location) {
        self.push(Finding::warning(code, message, location));
    }

    /// Adds an informational finding.
    pub fn info(&mut self, code: Code, message: impl Into<String>, location: Location) {
        self.push(Finding::info(code, message, location));
    }

    /// Appends every finding of `other`.
    pub fn extend(&mut self, other: Report) {
        self.findings.extend(other.findings);
    }

    /// True when there is no error (warnings and infos are allowed).
    pub fn ok(&self) -> bool {
        !self.has_errors()
    }

    /// True when at least one finding is an error.
    pub fn has_errors(&self) -> bool {
        self.findings.iter().any(|f| f.severity == Severity::Error)
    }

    /// Number of findings of the given severity.
    pub fn count(&self, severity: Severity) -> usize {
        self.findings
            .iter()
            .filter(|f| f.severity == severity)
            .count()
    }

    /// True when some finding has this code.
    pub fn contains(&self, code: Code) -> bool {
        self.findings.iter().any(|f| f.code == code)
    }

    /// The distinct error codes, sorted.
    pub fn error_codes(&self) -> Vec<&'static str> {
        let mut v: Vec<_> = self
            .findings
            .iter()
            .filter(|f| f.severity == Severity::Error)
            .map(|f| f.code.id)
            .collect();
        v.sort_unstable();
        v.dedup();
        v
    }
}

/// Every finding code this crate can emit, across all modules.
pub fn all_codes() -> Vec<Code> {
    let mut v: Vec<Code> = Vec::new();
    v.extend_from_slice(crate::archive::codes::ALL);
    v.extend_from_slice(crate::tosca::codes::ALL);
    v.extend_from_slice(crate::vnfd::codes::ALL);
    v.extend_from_slice(crate::request::codes::ALL);
    v.extend_from_slice(crate::validate::codes::ALL);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_and_well_formed() {
        let codes = all_codes();
        let mut seen = std::collections::BTreeSet::new();
        for c in &codes {
            assert!(seen.insert(c.id), "duplicate code {}", c.id);
            assert!(
                c.id.split('.').count() >= 2
                    && c.id.chars().all(|ch| ch.is_ascii_lowercase()
                        || ch.is_ascii_digit()
                        || ch == '.'
                        || ch == '_'),
                "code {} is not dotted snake_case",
                c.id
            );
            assert!(!c.summary.trim().is_empty(), "code {} has no summary", c.id);
        }
    }

    #[test]
    #[allow(dead_code)]
    fn report_ok_ignores_warnings() {
        crate::codes! {
            /// test code
            T = "test.code";
        }
        let mut r = Report::new();
        r.warning(T, "w", Location::default());
        assert!(r.ok());
        r.error(T, "e", Location::at("a.yaml", 3, 4));
        assert!(!r.ok());
        assert_eq!(r.error_codes(), vec!["test.code"]);
        assert_eq!(r.findings[1].to_string(), "error[test.code]: a.yaml:3:4: e");
    }
}

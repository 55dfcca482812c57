//! `TOSCA-Metadata/TOSCA.meta`: the first block (`TOSCA-Meta-File-Version`, `CSAR-Version`,
//! `Created-By`, `Entry-Definitions`, `ETSI-Entry-*`) and the per-file blocks
//! (`Name`, `Content-Type`, `Algorithm`, `Hash`).

use super::codes;
use super::{Algorithm, DigestEntry, Field, is_url, normalize};
use crate::diag::{Location, Report};

/// The parsed TOSCA.meta. Parsing never fails; problems become findings.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ToscaMeta {
    /// `TOSCA-Meta-File-Version` (expected `1.0`).
    pub file_version: Option<Field>,
    /// `CSAR-Version` (expected `1.1`).
    pub csar_version: Option<Field>,
    /// `Created-By` (also accepted as `Created-by`, with a warning).
    pub created_by: Option<Field>,
    /// `Entry-Definitions` as written.
    pub entry_definitions: Option<Field>,
    /// `ETSI-Entry-Manifest`.
    pub entry_manifest: Option<Field>,
    /// `ETSI-Entry-Change-Log`.
    pub entry_change_log: Option<Field>,
    /// `ETSI-Entry-Licenses`.
    pub entry_licenses: Option<Field>,
    /// `ETSI-Entry-Tests`.
    pub entry_tests: Option<Field>,
    /// `ETSI-Entry-Certificate`.
    pub entry_certificate: Option<Field>,
    /// Other keys of the first block (e.g. `Other-Definitions`), in order.
    pub other: Vec<(String, Field)>,
    /// Per-file blocks (`Name`, `Content-Type`, `Algorithm`, `Hash`; `Content-Type` is in
    /// [`DigestEntry::extra`]).
    pub files: Vec<DigestEntry>,
}

/// Keys of the first block, in canonical spelling.
const BLOCK0_KEYS: &[&str] = &[
    "TOSCA-Meta-File-Version",
    "CSAR-Version",
    "Created-By",
    "Entry-Definitions",
    "ETSI-Entry-Manifest",
    "ETSI-Entry-Change-Log",
    "ETSI-Entry-Licenses",
    "ETSI-Entry-Tests",
    "ETSI-Entry-Certificate",
    "Other-Definitions",
];
const FILE_KEYS: &[&str] = &["Name", "Content-Type", "Algorithm", "Hash"];

/// One `key: value` line.
pub(crate) struct Kv<'a> {
    pub key: &'a str,
    pub value: String,
    /// 1-based column of the value.
    pub column: u32,
    /// Leading whitespace width.
    pub indent: usize,
}

/// Splits `  key: value` → key, unquoted trimmed value. `None` when there is no `:` or the
/// key is empty or contains whitespace.
pub(crate) fn split_kv(line: &str) -> Option<Kv<'_>> {
    let indent = line.len() - line.trim_start().len();
    let rest = &line[indent..];
    let colon = rest.find(':')?;
    let key = rest[..colon].trim_end();
    if key.is_empty() || key.chars().any(char::is_whitespace) {
        return None;
    }
    let after = &rest[colon + 1..];
    let lead = after.len() - after.trim_start().len();
    let raw = after.trim();
    let value = unquote(raw).to_string();
    let column = line[..indent + colon + 1 + lead].chars().count() as u32 + 1;
    Some(Kv {
        key,
        value,
        column,
        indent,
    })
}

fn unquote(s: &str) -> &str {
    let b = s.as_bytes();
    if b.len() >= 2
        && ((b[0] == b'"' && b[b.len() - 1] == b'"') || (b[0] == b'\'' && b[b.len() - 1] == b'\''))
    {
        &s[1..s.len() - 1]
    } else {
        s
    }
}

/// Iterates lines with 1-based numbers, without `\r\n` / `\n`.
pub(crate) fn numbered_lines(text: &str) -> impl Iterator<Item = (u32, &str)> {
    text.split('\n').enumerate().map(|(i, l)| {
        let l = l.strip_suffix('\r').unwrap_or(l);
        (u32::try_from(i + 1).unwrap_or(u32::MAX), l)
    })
}

/// The digest-related finding codes of one source (manifest or TOSCA.meta).
#[derive(Clone, Copy)]
pub(crate) struct DigestCodes {
    pub incomplete: crate::diag::Code,
    pub unknown_algorithm: crate::diag::Code,
    pub malformed_hash: crate::diag::Code,
    pub invalid_path: crate::diag::Code,
    pub remote: crate::diag::Code,
    pub file_missing: crate::diag::Code,
    pub mismatch: crate::diag::Code,
    /// Name of the source key (`Source` / `Name`).
    pub source_key: &'static str,
}

pub(crate) const META_DIGEST_CODES: DigestCodes = DigestCodes {
    incomplete: codes::META_BLOCK_INCOMPLETE,
    unknown_algorithm: codes::META_UNKNOWN_ALGORITHM,
    malformed_hash: codes::META_MALFORMED_HASH,
    invalid_path: codes::META_INVALID_PATH,
    remote: codes::META_REMOTE_SOURCE,
    file_missing: codes::META_FILE_MISSING,
    mismatch: codes::META_DIGEST_MISMATCH,
    source_key: "Name",
};

/// Checks one digest entry on its own (no file access): keys present, algorithm known,
/// hash well-formed, source a valid local path or a URL.
pub(crate) fn check_entry(e: &DigestEntry, file: &str, c: &DigestCodes, report: &mut Report) {
    let at = |f: &Field| Location::at(file, f.line, f.column);
    let block = Location::at(file, e.line, 1);
    match &e.source {
        None => report.error(
            c.incomplete,
            format!("block has no `{}` key", c.source_key),
            block.clone(),
        ),
        Some(s) if s.value.is_empty() => {
            report.error(c.incomplete, format!("`{}` is empty", c.source_key), at(s))
        }
        Some(s) if is_url(&s.value) => report.info(
            c.remote,
            format!(
                "remote artifact `{}` is not fetched; its digest is not verified",
                s.value
            ),
            at(s),
        ),
        Some(s) if normalize(&s.value).is_none() => report.error(
            c.invalid_path,
            format!("`{}` is absolute or escapes the package root", s.value),
            at(s),
        ),
        Some(_) => {}
    }
    match (&e.algorithm, &e.hash) {
        (Some(a), None) => report.error(
            c.incomplete,
            format!("`Algorithm: {}` without `Hash`", a.value),
            at(a),
        ),
        (None, Some(h)) => report.error(c.incomplete, "`Hash` without `Algorithm`", at(h)),
        (Some(a), Some(h)) => match Algorithm::parse(&a.value) {
            None => report.error(
                c.unknown_algorithm,
                format!(
                    "unknown digest algorithm `{}` (expected SHA-224, SHA-256, SHA-384 or SHA-512)",
                    a.value
                ),
                at(a),
            ),
            Some(alg) if !alg.is_well_formed(&h.value) => report.error(
                c.malformed_hash,
                format!(
                    "`{}` is not a {} digest ({} hex characters)",
                    h.value,
                    alg,
                    alg.hex_len()
                ),
                at(h),
            ),
            Some(_) => {}
        },
        (None, None) => {}
    }
}

impl ToscaMeta {
    /// Parses TOSCA.meta text. `file` names the file in findings. Never panics.
    pub fn parse(text: &str, file: &str, report: &mut Report) -> ToscaMeta {
        let mut meta = ToscaMeta::default();
        let mut block_index = 0usize;
        let mut in_block = false;
        let mut current: Option<DigestEntry> = None;
        let mut seen: Vec<String> = Vec::new();

        for (line_no, line) in numbered_lines(text) {
            if line.trim().is_empty() {
                if in_block {
                    block_index += 1;
                    in_block = false;
                    if let Some(e) = current.take() {
                        meta.files.push(e);
                    }
                    seen.clear();
                }
                continue;
            }
            if line.trim_start().starts_with('#') {
                continue;
            }
            in_block = true;
            let Some(kv) = split_kv(line) else {
                report.error(
                    codes::META_SYNTAX,
                    format!("expected `Key: value`, found `{}`", truncate(line)),
                    Location::at(file, line_no, 1),
                );
                continue;
            };
            if kv.indent > 0 {
                report.error(
                    codes::META_SYNTAX,
                    "indented line: TOSCA.meta has no nesting or continuation lines",
                    Location::at(file, line_no, 1),
                );
                continue;
            }
            let known: &[&str] = if block_index == 0 {
                BLOCK0_KEYS
            } else {
                FILE_KEYS
            };
            let canonical = match known.iter().find(|k| k.eq_ignore_ascii_case(kv.key)) {
                Some(k) => {
                    if *k != kv.key {
                        report.warning(
                            codes::META_KEY_CASE,
                            format!("`{}` should be written `{}`", kv.key, k),
                            Location::at(file, line_no, 1),
                        );
                    }
                    Some(*k)
                }
                None => None,
            };
            let field = Field {
                value: kv.value.clone(),
                line: line_no,
                column: kv.column,
            };
            let key_name = canonical.unwrap_or(kv.key).to_string();
            if seen.iter().any(|s| s == &key_name) {
                report.error(
                    codes::META_DUPLICATE_KEY,
                    format!("`{key_name}` appears twice in this block"),
                    Location::at(file, line_no, 1),
                );
                continue;
            }
            seen.push(key_name.clone());

            if block_index == 0 {
                let slot = match canonical {
                    Some("TOSCA-Meta-File-Version") => &mut meta.file_version,
                    Some("CSAR-Version") => &mut meta.csar_version,
                    Some("Created-By") => &mut meta.created_by,
                    Some("Entry-Definitions") => &mut meta.entry_definitions,
                    Some("ETSI-Entry-Manifest") => &mut meta.entry_manifest,
                    Some("ETSI-Entry-Change-Log") => &mut meta.entry_change_log,
                    Some("ETSI-Entry-Licenses") => &mut meta.entry_licenses,
                    Some("ETSI-Entry-Tests") => &mut meta.entry_tests,
                    Some("ETSI-Entry-Certificate") => &mut meta.entry_certificate,
                    _ => {
                        if canonical.is_none() {
                            let hint = if FILE_KEYS.iter().any(|k| k.eq_ignore_ascii_case(kv.key)) {
                                " (per-file keys belong in a later block, after a blank line)"
                            } else {
                                ""
                            };
                            report.warning(
                                codes::META_UNKNOWN_KEY,
                                format!("unknown key `{}`{hint}", kv.key),
                                Location::at(file, line_no, 1),
                            );
                        }
                        meta.other.push((key_name, field));
                        continue;
                    }
                };
                *slot = Some(field);
            } else {
                let e = current.get_or_insert_with(|| DigestEntry {
                    line: line_no,
                    ..Default::default()
                });
                match canonical {
                    Some("Name") => e.source = Some(field),
                    Some("Algorithm") => e.algorithm = Some(field),
                    Some("Hash") => e.hash = Some(field),
                    Some(k) => e.extra.push((k.to_string(), field)),
                    None => {
                        let hint = if BLOCK0_KEYS.iter().any(|k| k.eq_ignore_ascii_case(kv.key)) {
                            " (it belongs in the first block)"
                        } else {
                            ""
                        };
                        report.warning(
                            codes::META_UNKNOWN_KEY,
                            format!("unknown key `{}` in a per-file block{hint}", kv.key),
                            Location::at(file, line_no, 1),
                        );
                        e.extra.push((key_name, field));
                    }
                }
            }
        }
        if let Some(e) = current.take() {
            meta.files.push(e);
        }

        meta.check(file, report);
        meta
    }

    fn check(&self, file: &str, report: &mut Report) {
        let top = Location::at(file, 1, 1);
        for (slot, key) in [
            (&self.file_version, "TOSCA-Meta-File-Version"),
            (&self.csar_version, "CSAR-Version"),
            (&self.created_by, "Created-By"),
        ] {
            match slot {
                None => report.error(
                    codes::META_MISSING_KEY,
                    format!("the first block has no `{key}`"),
                    top.clone(),
                ),
                Some(f) if f.value.is_empty() => report.error(
                    codes::META_MISSING_KEY,
                    format!("`{key}` is empty"),
                    Location::at(file, f.line, f.column),
                ),
                Some(_) => {}
            }
        }
        if let Some(v) = &self.file_version
            && !v.value.is_empty()
            && v.value != "1.0"
        {
            report.warning(
                codes::META_UNSUPPORTED_VERSION,
                format!("TOSCA-Meta-File-Version `{}`; expected 1.0", v.value),
                Location::at(file, v.line, v.column),
            );
        }
        if let Some(v) = &self.csar_version
            && !v.value.is_empty()
            && !matches!(v.value.as_str(), "1.0" | "1.1" | "2.0")
        {
            report.warning(
                codes::META_UNSUPPORTED_VERSION,
                format!("CSAR-Version `{}`; expected 1.1", v.value),
                Location::at(file, v.line, v.column),
            );
        }
        match &self.entry_definitions {
            None => report.error(
                codes::ENTRY_DEFINITIONS_MISSING,
                "the first block has no `Entry-Definitions`",
                top,
            ),
            Some(f) if f.value.is_empty() => report.error(
                codes::ENTRY_DEFINITIONS_MISSING,
                "`Entry-Definitions` is empty",
                Location::at(file, f.line, f.column),
            ),
            Some(_) => {}
        }
        for (key, f) in self.path_keys() {
            if !f.value.is_empty() && normalize(&f.value).is_none() {
                report.error(
                    codes::META_INVALID_PATH,
                    format!(
                        "`{key}: {}` is absolute, a URL, or escapes the package root",
                        f.value
                    ),
                    Location::at(file, f.line, f.column),
                );
            }
        }
        for e in &self.files {
            check_entry(e, file, &META_DIGEST_CODES, report);
        }
    }

    /// The keys of the first block that name package paths, with their fields.
    pub fn path_keys(&self) -> Vec<(&'static str, &Field)> {
        [
            ("Entry-Definitions", &self.entry_definitions),
            ("ETSI-Entry-Manifest", &self.entry_manifest),
            ("ETSI-Entry-Change-Log", &self.entry_change_log),
            ("ETSI-Entry-Licenses", &self.entry_licenses),
            ("ETSI-Entry-Tests", &self.entry_tests),
            ("ETSI-Entry-Certificate", &self.entry_certificate),
        ]
        .into_iter()
        .filter_map(|(k, f)| f.as_ref().map(|f| (k, f)))
        .collect()
    }

    /// Normalized `Entry-Definitions`, if present and valid.
    pub fn entry_definitions_path(&self) -> Option<String> {
        self.entry_definitions
            .as_ref()
            .and_then(|f| normalize(&f.value))
    }

    /// Normalized `ETSI-Entry-Manifest`, if present and valid.
    pub fn manifest_path(&self) -> Option<String> {
        self.entry_manifest
            .as_ref()
            .and_then(|f| normalize(&f.value))
    }

    /// Renders TOSCA.meta text in canonical key order (used by tests and generators).
    pub fn render(&self) -> String {
        let mut out = String::new();
        let first = [
            ("TOSCA-Meta-File-Version", &self.file_version),
            ("CSAR-Version", &self.csar_version),
            ("Created-By", &self.created_by),
            ("Entry-Definitions", &self.entry_definitions),
            ("ETSI-Entry-Manifest", &self.entry_manifest),
            ("ETSI-Entry-Change-Log", &self.entry_change_log),
            ("ETSI-Entry-Licenses", &self.entry_licenses),
            ("ETSI-Entry-Tests", &self.entry_tests),
            ("ETSI-Entry-Certificate", &self.entry_certificate),
        ];
        for (k, f) in first {
            if let Some(f) = f {
                out.push_str(&format!("{k}: {}\n", f.value));
            }
        }
        for (k, f) in &self.other {
            out.push_str(&format!("{k}: {}\n", f.value));
        }
        for e in &self.files {
            out.push('\n');
            if let Some(s) = &e.source {
                out.push_str(&format!("Name: {}\n", s.value));
            }
            for (k, f) in &e.extra {
                out.push_str(&format!("{k}: {}\n", f.value));
            }
            if let Some(a) = &e.algorithm {
                out.push_str(&format!("Algorithm: {}\n", a.value));
            }
            if let Some(h) = &e.hash {
                out.push_str(&format!("Hash: {}\n", h.value));
            }
        }
        out
    }
}

pub(crate) fn truncate(s: &str) -> String {
    const MAX: usize = 60;
    if s.chars().count() <= MAX {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(MAX).collect();
        t.push('…');
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TACKER: &str = "TOSCA-Meta-File-Version: 1.0\n\
CSAR-Version: 1.1\n\
Created-by: Dummy User\n\
Entry-Definitions: Definitions/sample_kubernetes_top.vnfd.yaml\n\
\n\
Name: Files/images/ubuntu-20.04-server-cloudimg-amd64.img\n\
Content-Type: application/x-iso9066-image\n\
\n\
Name: Scripts/install_k8s_cluster.sh\n\
Content-Type: application/sh\n\
Algorithm: SHA-256\n\
Hash: ec6423c8d68ff19e0d44b1437eddefa410a5ed43a434fa51ed07bde5a6d06abe\n";

    #[test]
    fn parses_tacker_sample_with_created_by_warning() {
        let mut r = Report::new();
        let m = ToscaMeta::parse(TACKER, "TOSCA-Metadata/TOSCA.meta", &mut r);
        assert!(r.ok(), "{:?}", r.findings);
        assert!(r.contains(codes::META_KEY_CASE));
        assert_eq!(
            m.entry_definitions_path().as_deref(),
            Some("Definitions/sample_kubernetes_top.vnfd.yaml")
        );
        assert_eq!(
            m.created_by.as_ref().map(|f| f.value.as_str()),
            Some("Dummy User")
        );
        assert_eq!(m.files.len(), 2);
        assert_eq!(m.files[1].algorithm(), Some(Algorithm::Sha256));
        let h = m.files[1].hash.as_ref().expect("hash");
        assert_eq!((h.line, h.column), (12, 7));
    }

    #[test]
    fn missing_entry_definitions_and_incomplete_block() {
        let text = "TOSCA-Meta-File-Version: 1.0\nCSAR-Version: 1.1\nCreated-By: x\n\nName: a\nAlgorithm: SHA-256\n\nContent-Type: text/plain\n";
        let mut r = Report::new();
        let m = ToscaMeta::parse(text, "m", &mut r);
        assert!(r.contains(codes::ENTRY_DEFINITIONS_MISSING));
        let incomplete: Vec<_> = r
            .findings
            .iter()
            .filter(|f| f.code == codes::META_BLOCK_INCOMPLETE)
            .map(|f| f.location.line)
            .collect();
        assert_eq!(incomplete, vec![Some(6), Some(8)]);
        assert_eq!(m.files.len(), 2);
    }

    #[test]
    fn bad_algorithm_hash_path_and_syntax() {
        let text = "TOSCA-Meta-File-Version: 1.0\r\nCSAR-Version: 1.1\r\nCreated-By: x\r\nEntry-Definitions: ../top.yaml\r\nbogus line\r\n\r\nName: a\r\nAlgorithm: MD5\r\nHash: 00\r\n\r\nName: b\r\nAlgorithm: sha-256\r\nHash: <Calculated value here>\r\n";
        let mut r = Report::new();
        ToscaMeta::parse(text, "m", &mut r);
        for c in [
            codes::META_INVALID_PATH,
            codes::META_SYNTAX,
            codes::META_UNKNOWN_ALGORITHM,
            codes::META_MALFORMED_HASH,
        ] {
            assert!(r.contains(c), "missing {c}: {:?}", r.findings);
        }
    }

    #[test]
    fn duplicate_key_and_render_round_trip() {
        let mut r = Report::new();
        ToscaMeta::parse("Created-By: a\nCreated-By: b\n", "m", &mut r);
        assert!(r.contains(codes::META_DUPLICATE_KEY));

        let mut r = Report::new();
        let m = ToscaMeta::parse(TACKER, "m", &mut r);
        let mut r2 = Report::new();
        let again = ToscaMeta::parse(&m.render(), "m", &mut r2);
        assert_eq!(again.render(), m.render());
        assert_eq!(again.files.len(), 2);
    }
}

//! The SOL004 manifest (`.mf`): `metadata:` block, `Source`/`Algorithm`/`Hash` entries,
//! `non_mano_artifact_sets:`, and an optional trailing CMS signature.
//!
//! ```text
//! metadata:
//!   vnf_provider_id: Company
//!   vnf_product_name: Sample VNF
//!   vnf_release_date_time: 2021-01-01T10:00:00+08:00
//!   vnf_package_version: 1.0
//!
//! Source: Definitions/top.vnfd.yaml
//! Algorithm: SHA-256
//! Hash: 09e5a788acb180162c51679ae4c998039fa6644505db2415e35107d1ee213943
//!
//! non_mano_artifact_sets:
//!   onap_ves_events:
//!     Source: Artifacts/ves_events.yaml
//! ```

use super::codes;
use super::meta::{DigestCodes, check_entry, numbered_lines, split_kv, truncate};
use super::{DigestEntry, Field, normalize};
use crate::diag::{Location, Report};

/// The manifest's `metadata:` block.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ManifestMetadata {
    /// 1-based line of `metadata:`.
    pub line: u32,
    /// `vnf_provider_id`.
    pub vnf_provider_id: Option<Field>,
    /// `vnf_product_name`.
    pub vnf_product_name: Option<Field>,
    /// `vnf_release_date_time` as written (RFC 3339).
    pub vnf_release_date_time: Option<Field>,
    /// `vnf_package_version`.
    pub vnf_package_version: Option<Field>,
    /// `vnfd_id` (newer SOL004).
    pub vnfd_id: Option<Field>,
    /// `vnf_software_version` (newer SOL004).
    pub vnf_software_version: Option<Field>,
    /// `compatible_specification_versions` as written (comma-separated).
    pub compatible_specification_versions: Option<Field>,
    /// `vnfm_info` as written.
    pub vnfm_info: Option<Field>,
    /// Unknown keys, in order.
    pub other: Vec<(String, Field)>,
    /// Parsed `vnf_release_date_time`, when valid.
    pub release_date_time: Option<time::OffsetDateTime>,
}

impl ManifestMetadata {
    /// `compatible_specification_versions` split on commas, trimmed.
    pub fn compatible_specification_versions(&self) -> Vec<String> {
        self.compatible_specification_versions
            .as_ref()
            .map(|f| {
                f.value
                    .split(',')
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect()
            })
            .unwrap_or_default()
    }

    fn slot(&mut self, key: &str) -> Option<&mut Option<Field>> {
        Some(match key {
            "vnf_provider_id" => &mut self.vnf_provider_id,
            "vnf_product_name" => &mut self.vnf_product_name,
            "vnf_release_date_time" => &mut self.vnf_release_date_time,
            "vnf_package_version" => &mut self.vnf_package_version,
            "vnfd_id" => &mut self.vnfd_id,
            "vnf_software_version" => &mut self.vnf_software_version,
            "compatible_specification_versions" => &mut self.compatible_specification_versions,
            "vnfm_info" => &mut self.vnfm_info,
            _ => return None,
        })
    }

    /// Known keys with their fields, in canonical order.
    pub fn fields(&self) -> Vec<(&'static str, &Option<Field>)> {
        vec![
            ("vnf_provider_id", &self.vnf_provider_id),
            ("vnf_product_name", &self.vnf_product_name),
            ("vnf_release_date_time", &self.vnf_release_date_time),
            ("vnf_package_version", &self.vnf_package_version),
            ("vnfd_id", &self.vnfd_id),
            ("vnf_software_version", &self.vnf_software_version),
            (
                "compatible_specification_versions",
                &self.compatible_specification_versions,
            ),
            ("vnfm_info", &self.vnfm_info),
        ]
    }
}

/// Required metadata keys (SOL004 / ONAP R-795126).
pub const REQUIRED_METADATA: &[&str] = &[
    "vnf_provider_id",
    "vnf_product_name",
    "vnf_release_date_time",
    "vnf_package_version",
];

/// One named set of `non_mano_artifact_sets`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NonManoSet {
    /// Set name (e.g. `onap_ves_events`).
    pub name: Field,
    /// `Source` paths of the set, as written.
    pub sources: Vec<Field>,
}

/// The parsed manifest. Parsing never fails; problems become findings.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Manifest {
    /// The `metadata:` block, if any.
    pub metadata: Option<ManifestMetadata>,
    /// Artifact entries in file order.
    pub entries: Vec<DigestEntry>,
    /// `non_mano_artifact_sets`.
    pub non_mano_artifact_sets: Vec<NonManoSet>,
    /// 1-based line of `-----BEGIN CMS-----`, when the manifest is signed.
    pub signature_line: Option<u32>,
}

pub(crate) const MANIFEST_DIGEST_CODES: DigestCodes = DigestCodes {
    incomplete: codes::ENTRY_INCOMPLETE,
    unknown_algorithm: codes::UNKNOWN_ALGORITHM,
    malformed_hash: codes::MALFORMED_HASH,
    invalid_path: codes::INVALID_PATH,
    remote: codes::REMOTE_SOURCE,
    file_missing: codes::FILE_MISSING,
    mismatch: codes::DIGEST_MISMATCH,
    source_key: "Source",
};

#[derive(PartialEq)]
enum Section {
    None,
    Metadata,
    NonMano,
    Unknown,
}

impl Manifest {
    /// Parses manifest text. `file` names the file in findings. Never panics.
    pub fn parse(text: &str, file: &str, report: &mut Report) -> Manifest {
        let mut m = Manifest::default();
        let mut section = Section::None;
        let mut entry: Option<DigestEntry> = None;
        let mut in_cms = false;
        let mut cms_ended = false;

        for (line_no, line) in numbered_lines(text) {
            let loc = Location::at(file, line_no, 1);
            let trimmed = line.trim();
            if in_cms {
                if trimmed == "-----END CMS-----" {
                    in_cms = false;
                    cms_ended = true;
                }
                continue;
            }
            if trimmed == "-----BEGIN CMS-----" {
                if let Some(e) = entry.take() {
                    m.entries.push(e);
                }
                if m.signature_line.is_some() {
                    report.error(codes::MANIFEST_SYNTAX, "second CMS signature block", loc);
                }
                m.signature_line = Some(line_no);
                in_cms = true;
                continue;
            }
            if trimmed.is_empty() {
                if let Some(e) = entry.take() {
                    m.entries.push(e);
                }
                continue;
            }
            if cms_ended {
                report.error(
                    codes::MANIFEST_SYNTAX,
                    "content after the CMS signature block",
                    loc,
                );
                continue;
            }
            if trimmed.starts_with('#') {
                continue;
            }
            let Some(kv) = split_kv(line) else {
                report.error(
                    codes::MANIFEST_SYNTAX,
                    format!("expected `key: value`, found `{}`", truncate(line)),
                    loc,
                );
                continue;
            };
            let field = Field {
                value: kv.value.clone(),
                line: line_no,
                column: kv.column,
            };

            if kv.indent > 0 {
                match section {
                    Section::Metadata => {
                        let md = m.metadata.get_or_insert_with(Default::default);
                        match md.slot(kv.key) {
                            Some(slot) if slot.is_some() => report.error(
                                codes::MANIFEST_DUPLICATE_KEY,
                                format!("metadata key `{}` appears twice", kv.key),
                                loc,
                            ),
                            Some(slot) => *slot = Some(field),
                            None => {
                                report.warning(
                                    codes::MANIFEST_UNKNOWN_KEY,
                                    format!("unknown metadata key `{}`", kv.key),
                                    loc,
                                );
                                md.other.push((kv.key.to_string(), field));
                            }
                        }
                    }
                    Section::NonMano => {
                        if kv.key == "Source" {
                            match m.non_mano_artifact_sets.last_mut() {
                                Some(set) => set.sources.push(field),
                                None => report.error(
                                    codes::MANIFEST_SYNTAX,
                                    "`Source` in non_mano_artifact_sets before any set name",
                                    loc,
                                ),
                            }
                        } else if kv.value.is_empty() {
                            m.non_mano_artifact_sets.push(NonManoSet {
                                name: Field {
                                    value: kv.key.to_string(),
                                    line: line_no,
                                    column: u32::try_from(kv.indent + 1).unwrap_or(u32::MAX),
                                },
                                sources: Vec::new(),
                            });
                        } else {
                            report.error(
                                codes::MANIFEST_SYNTAX,
                                format!(
                                    "expected a set name or `Source:` in non_mano_artifact_sets, found `{}`",
                                    kv.key
                                ),
                                loc,
                            );
                        }
                    }
                    Section::Unknown => {}
                    Section::None => report.error(
                        codes::MANIFEST_SYNTAX,
                        "indented line outside `metadata:` or `non_mano_artifact_sets:`",
                        loc,
                    ),
                }
                continue;
            }

            // Top-level line.
            match kv.key {
                "metadata" if kv.value.is_empty() => {
                    if let Some(e) = entry.take() {
                        m.entries.push(e);
                    }
                    if m.metadata.is_some() {
                        report.error(
                            codes::MANIFEST_DUPLICATE_KEY,
                            "second `metadata:` block",
                            loc,
                        );
                        section = Section::Unknown;
                    } else {
                        m.metadata = Some(ManifestMetadata {
                            line: line_no,
                            ..Default::default()
                        });
                        section = Section::Metadata;
                    }
                }
                "non_mano_artifact_sets" if kv.value.is_empty() => {
                    if let Some(e) = entry.take() {
                        m.entries.push(e);
                    }
                    section = Section::NonMano;
                }
                "Source" => {
                    section = Section::None;
                    if let Some(e) = entry.take() {
                        m.entries.push(e);
                    }
                    entry = Some(DigestEntry {
                        source: Some(field),
                        line: line_no,
                        ..Default::default()
                    });
                }
                "Algorithm" | "Hash" | "Signature" | "Certificate" => {
                    section = Section::None;
                    let e = entry.get_or_insert_with(|| DigestEntry {
                        line: line_no,
                        ..Default::default()
                    });
                    let slot = match kv.key {
                        "Algorithm" => Some(&mut e.algorithm),
                        "Hash" => Some(&mut e.hash),
                        _ => None,
                    };
                    match slot {
                        Some(s) if s.is_some() => report.error(
                            codes::MANIFEST_DUPLICATE_KEY,
                            format!("`{}` appears twice in one entry", kv.key),
                            loc,
                        ),
                        Some(s) => *s = Some(field),
                        None => e.extra.push((kv.key.to_string(), field)),
                    }
                }
                other => {
                    section = if kv.value.is_empty() {
                        Section::Unknown
                    } else {
                        Section::None
                    };
                    report.warning(
                        codes::MANIFEST_UNKNOWN_KEY,
                        format!("unknown manifest key `{other}`"),
                        loc,
                    );
                }
            }
        }
        if let Some(e) = entry.take() {
            m.entries.push(e);
        }
        if in_cms {
            report.error(
                codes::MANIFEST_SYNTAX,
                "`-----BEGIN CMS-----` without `-----END CMS-----`",
                Location::at(file, m.signature_line.unwrap_or(1), 1),
            );
        }
        m.check(file, report);
        m
    }

    fn check(&mut self, file: &str, report: &mut Report) {
        match &mut self.metadata {
            None => report.error(
                codes::METADATA_MISSING,
                "the manifest has no `metadata:` block",
                Location::at(file, 1, 1),
            ),
            Some(md) => {
                let md_loc = Location::at(file, md.line, 1);
                for (key, f) in md.fields() {
                    if !REQUIRED_METADATA.contains(&key) {
                        continue;
                    }
                    match f {
                        None => report.error(
                            codes::METADATA_KEY_MISSING,
                            format!("metadata has no `{key}`"),
                            md_loc.clone(),
                        ),
                        Some(f) if f.value.is_empty() => report.error(
                            codes::METADATA_KEY_MISSING,
                            format!("metadata `{key}` is empty"),
                            Location::at(file, f.line, f.column),
                        ),
                        Some(_) => {}
                    }
                }
                if let Some(f) = &md.vnf_release_date_time
                    && !f.value.is_empty()
                {
                    match time::OffsetDateTime::parse(
                        &f.value,
                        &time::format_description::well_known::Rfc3339,
                    ) {
                        Ok(t) => md.release_date_time = Some(t),
                        Err(e) => report.error(
                            codes::BAD_RELEASE_DATE_TIME,
                            format!(
                                "vnf_release_date_time `{}` is not an RFC 3339 date-time ({e}); e.g. 2021-01-01T10:00:00+08:00",
                                f.value
                            ),
                            Location::at(file, f.line, f.column),
                        ),
                    }
                }
            }
        }

        let mut seen: std::collections::BTreeMap<String, u32> = Default::default();
        for e in &self.entries {
            check_entry(e, file, &MANIFEST_DIGEST_CODES, report);
            if let Some(s) = &e.source {
                if e.algorithm.is_none() && e.hash.is_none() {
                    report.warning(
                        codes::NO_DIGEST,
                        format!(
                            "`{}` has no Algorithm/Hash; it is not integrity-protected",
                            s.value
                        ),
                        Location::at(file, s.line, s.column),
                    );
                }
                if let Some(p) = normalize(&s.value) {
                    if let Some(first) = seen.get(&p) {
                        report.warning(
                            codes::DUPLICATE_SOURCE,
                            format!("`{p}` is already listed at line {first}"),
                            Location::at(file, s.line, s.column),
                        );
                    } else {
                        seen.insert(p, s.line);
                    }
                }
            }
        }
        for set in &self.non_mano_artifact_sets {
            for s in &set.sources {
                if super::is_url(&s.value) {
                    continue;
                }
                match normalize(&s.value) {
                    None => report.error(
                        codes::INVALID_PATH,
                        format!("`{}` is absolute or escapes the package root", s.value),
                        Location::at(file, s.line, s.column),
                    ),
                    Some(p) if !seen.contains_key(&p) => report.warning(
                        codes::NON_MANO_UNLISTED,
                        format!(
                            "non-MANO artifact `{p}` (set `{}`) has no Source/Algorithm/Hash entry",
                            set.name.value
                        ),
                        Location::at(file, s.line, s.column),
                    ),
                    Some(_) => {}
                }
            }
        }
        if let Some(line) = self.signature_line {
            report.info(
                codes::SIGNATURE_NOT_VERIFIED,
                "the manifest has a CMS signature; signature verification is not performed",
                Location::at(file, line, 1),
            );
        }
    }

    /// Normalized local sources listed with a digest entry or in `non_mano_artifact_sets`.
    pub fn listed_paths(&self) -> std::collections::BTreeSet<String> {
        self.entries
            .iter()
            .filter_map(DigestEntry::local_source)
            .chain(
                self.non_mano_artifact_sets
                    .iter()
                    .flat_map(|s| s.sources.iter())
                    .filter_map(|f| normalize(&f.value)),
            )
            .collect()
    }

    /// Renders manifest text (metadata, entries, non-MANO sets; no signature).
    pub fn render(&self) -> String {
        let mut out = String::new();
        if let Some(md) = &self.metadata {
            out.push_str("metadata:\n");
            for (k, f) in md.fields() {
                if let Some(f) = f {
                    out.push_str(&format!("  {k}: {}\n", f.value));
                }
            }
            for (k, f) in &md.other {
                out.push_str(&format!("  {k}: {}\n", f.value));
            }
        }
        for e in &self.entries {
            out.push('\n');
            if let Some(s) = &e.source {
                out.push_str(&format!("Source: {}\n", s.value));
            }
            if let Some(a) = &e.algorithm {
                out.push_str(&format!("Algorithm: {}\n", a.value));
            }
            if let Some(h) = &e.hash {
                out.push_str(&format!("Hash: {}\n", h.value));
            }
            for (k, f) in &e.extra {
                out.push_str(&format!("{k}: {}\n", f.value));
            }
        }
        if !self.non_mano_artifact_sets.is_empty() {
            out.push_str("\nnon_mano_artifact_sets:\n");
            for set in &self.non_mano_artifact_sets {
                out.push_str(&format!("  {}:\n", set.name.value));
                for s in &set.sources {
                    out.push_str(&format!("    Source: {}\n", s.value));
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::archive::Algorithm;

    const GOOD: &str = r#"metadata:
  vnf_provider_id: Company
  vnf_product_name: Sample VNF
  vnf_release_date_time: 2021-01-01T10:00:00+08:00
  vnf_package_version: '1.0'
  compatible_specification_versions: 2.6.1, 3.3.1

Source: Definitions/top.vnfd.yaml
Algorithm: SHA-256
Hash: 09e5a788acb180162c51679ae4c998039fa6644505db2415e35107d1ee213943

Source: https://example.com/image.qcow2
Algorithm: sha-512
Hash: 00000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000

non_mano_artifact_sets:
  onap_ves_events:
    Source: Definitions/top.vnfd.yaml

-----BEGIN CMS-----
MIIB
-----END CMS-----
"#;

    #[test]
    fn parses_good_manifest() {
        let mut r = Report::new();
        let m = Manifest::parse(GOOD, "top.mf", &mut r);
        assert!(r.ok(), "{:?}", r.findings);
        let md = m.metadata.as_ref().expect("metadata");
        assert_eq!(
            md.vnf_package_version.as_ref().map(|f| f.value.as_str()),
            Some("1.0")
        );
        assert_eq!(
            md.compatible_specification_versions(),
            vec!["2.6.1", "3.3.1"]
        );
        assert!(md.release_date_time.is_some());
        assert_eq!(m.entries.len(), 2);
        assert_eq!(m.entries[1].algorithm(), Some(Algorithm::Sha512));
        assert!(m.entries[1].is_remote());
        assert_eq!(m.non_mano_artifact_sets.len(), 1);
        assert_eq!(m.signature_line, Some(20));
        assert!(r.contains(codes::REMOTE_SOURCE));
        assert!(r.contains(codes::SIGNATURE_NOT_VERIFIED));
        assert_eq!(m.listed_paths().len(), 1);
    }

    #[test]
    fn bad_date_and_missing_metadata_keys() {
        let text = "metadata:\n  vnf_provider_id: C\n  vnf_release_date_time: 2021-13-01 10:00\n";
        let mut r = Report::new();
        Manifest::parse(text, "a.mf", &mut r);
        let bad = r
            .findings
            .iter()
            .find(|f| f.code == codes::BAD_RELEASE_DATE_TIME)
            .expect("bad date finding");
        assert_eq!(bad.location, Location::at("a.mf", 3, 26));
        let missing = r
            .findings
            .iter()
            .filter(|f| f.code == codes::METADATA_KEY_MISSING)
            .count();
        assert_eq!(missing, 2);
    }

    #[test]
    fn no_metadata_incomplete_entries_and_unterminated_cms() {
        let text =
            "Source: a\nAlgorithm: SHA-256\n\nHash: abc\n\nSource: b\n-----BEGIN CMS-----\nxx\n";
        let mut r = Report::new();
        let m = Manifest::parse(text, "a.mf", &mut r);
        assert!(r.contains(codes::METADATA_MISSING));
        assert!(r.contains(codes::MANIFEST_SYNTAX));
        let inc: Vec<_> = r
            .findings
            .iter()
            .filter(|f| f.code == codes::ENTRY_INCOMPLETE)
            .map(|f| f.location.line)
            .collect();
        assert_eq!(inc, vec![Some(2), Some(4), Some(4)]);
        assert!(r.contains(codes::NO_DIGEST));
        assert_eq!(m.entries.len(), 3);
    }

    #[test]
    fn source_without_blank_line_starts_new_entry() {
        let h = "a".repeat(64);
        let text = format!(
            "metadata:\n  vnf_provider_id: C\n  vnf_product_name: P\n  vnf_release_date_time: 2021-01-01T00:00:00Z\n  vnf_package_version: 1\nSource: a\nAlgorithm: SHA-256\nHash: {h}\nSource: ../b\nAlgorithm: SHA-256\nHash: {h}\nSource: a\nAlgorithm: SHA-256\nHash: {h}\n"
        );
        let mut r = Report::new();
        let m = Manifest::parse(&text, "a.mf", &mut r);
        assert_eq!(m.entries.len(), 3);
        assert!(r.contains(codes::INVALID_PATH));
        assert!(r.contains(codes::DUPLICATE_SOURCE));
    }

    #[test]
    fn render_round_trip() {
        let mut r = Report::new();
        let m = Manifest::parse(GOOD, "a.mf", &mut r);
        let mut r2 = Report::new();
        let again = Manifest::parse(&m.render(), "a.mf", &mut r2);
        assert_eq!(again.render(), m.render());
        assert_eq!(again.entries.len(), m.entries.len());
    }
}

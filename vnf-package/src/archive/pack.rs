//! Writing packages: deterministic CSAR creation with refreshed digests, and in-place
//! digest refresh for a package directory.

use super::digest::Algorithm;
use super::{DigestEntry, Error, Package, TOSCA_META_PATH, codes};
use crate::diag::{Report, Severity};
use rayon::prelude::*;
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Options of [`pack`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PackOptions {
    /// Also write the refreshed manifest / TOSCA.meta back into the directory.
    pub update_in_place: bool,
}

/// What [`pack`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PackSummary {
    /// The CSAR written.
    pub output: PathBuf,
    /// Number of files in the CSAR.
    pub files: usize,
    /// Size of the CSAR in bytes.
    pub bytes: u64,
    /// Digest entries whose `Hash` changed, as `file:line: source`.
    pub updated: Vec<String>,
    /// Package files not listed in the manifest (only when a manifest exists).
    pub unlisted: Vec<String>,
    /// Other warnings (e.g. entries without a hash, which are left alone).
    pub warnings: Vec<String>,
}

/// File extensions stored without compression (already compressed or huge images).
const STORED_EXTENSIONS: &[&str] = &[
    "raw", "vhd", "vhdx", "vmdk", "vdi", "iso", "ploop", "qcow2", "aki", "ari", "ami", "img", "gz",
    "tgz", "zip", "xz", "bz2", "zst", "csar",
];

/// Error codes that `pack` / `refresh_digests` repair, so they do not block packing.
const REPAIRABLE: &[crate::diag::Code] = &[codes::MALFORMED_HASH, codes::META_MALFORMED_HASH];

struct Refreshed {
    /// New contents of TOSCA.meta / the manifest, when changed.
    texts: BTreeMap<String, String>,
    updated: Vec<String>,
    warnings: Vec<String>,
}

fn open_dir(dir: &Path) -> Result<(Package, Report), Error> {
    let md = std::fs::metadata(dir).map_err(|e| Error::io(dir, e))?;
    if !md.is_dir() {
        return Err(Error::io(
            dir,
            std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a directory"),
        ));
    }
    let mut report = Report::new();
    let pkg = Package::open(dir, &mut report)?;
    let blocking: Vec<_> = report
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Error && !REPAIRABLE.contains(&f.code))
        .cloned()
        .collect();
    if !blocking.is_empty() {
        return Err(Error::Invalid {
            path: dir.to_path_buf(),
            findings: blocking,
        });
    }
    Ok((pkg, report))
}

/// Replaces the value of `Hash:` lines (1-based line → new hex), keeping everything
/// else of the text byte for byte.
fn rewrite_lines(text: &str, new_values: &BTreeMap<u32, (u32, String)>) -> String {
    let mut out = String::with_capacity(text.len());
    for (i, line) in text.split_inclusive('\n').enumerate() {
        let no = u32::try_from(i + 1).unwrap_or(u32::MAX);
        let Some((column, value)) = new_values.get(&no) else {
            out.push_str(line);
            continue;
        };
        let (body, ending) = match line.strip_suffix("\r\n") {
            Some(b) => (b, "\r\n"),
            None => match line.strip_suffix('\n') {
                Some(b) => (b, "\n"),
                None => (line, ""),
            },
        };
        let start = body
            .char_indices()
            .nth(column.saturating_sub(1) as usize)
            .map(|(b, _)| b)
            .unwrap_or(body.len());
        out.push_str(&body[..start]);
        out.push_str(value);
        out.push_str(ending);
    }
    out
}

/// Recomputes the digests of one set of entries against the current contents
/// (`overrides` first, then the package); returns the new text if anything changed.
fn refresh_set(
    pkg: &Package,
    file: &str,
    text: &str,
    entries: &[DigestEntry],
    overrides: &BTreeMap<String, String>,
    updated: &mut Vec<String>,
    warnings: &mut Vec<String>,
) -> Result<Option<String>, Error> {
    let mut todo: Vec<(String, Algorithm)> = Vec::new();
    for e in entries {
        let (Some(p), Some(a), Some(_)) = (e.local_source(), e.algorithm(), &e.hash) else {
            if let (Some(s), true) = (&e.source, e.algorithm.is_some() != e.hash.is_some()) {
                warnings.push(format!(
                    "{file}:{}: `{}` has Algorithm or Hash but not both; left unchanged",
                    e.line, s.value
                ));
            }
            continue;
        };
        if !overrides.contains_key(&p) {
            todo.push((p, a));
        }
    }
    todo.sort();
    todo.dedup();
    let computed: Vec<((String, Algorithm), Result<String, Error>)> = todo
        .into_par_iter()
        .map(|(p, a)| {
            let r = pkg.hash(&p, a);
            ((p, a), r)
        })
        .collect();
    let mut digests: BTreeMap<(String, Algorithm), String> = BTreeMap::new();
    for (k, r) in computed {
        digests.insert(k, r?);
    }
    let mut new_values: BTreeMap<u32, (u32, String)> = BTreeMap::new();
    for e in entries {
        let (Some(p), Some(a), Some(h)) = (e.local_source(), e.algorithm(), &e.hash) else {
            continue;
        };
        let actual = match overrides.get(&p) {
            Some(t) => super::hash_bytes(t.as_bytes(), a),
            None => match digests.get(&(p.clone(), a)) {
                Some(d) => d.clone(),
                None => continue,
            },
        };
        if !h.value.eq_ignore_ascii_case(&actual) {
            updated.push(format!("{file}:{}: {p}", h.line));
            new_values.insert(h.line, (h.column, actual));
        }
    }
    Ok((!new_values.is_empty()).then(|| rewrite_lines(text, &new_values)))
}

fn lists(entries: &[DigestEntry], path: &str) -> bool {
    entries
        .iter()
        .any(|e| e.local_source().as_deref() == Some(path) && e.hash.is_some())
}

fn refresh(pkg: &Package) -> Result<Refreshed, Error> {
    let mut texts: BTreeMap<String, String> = BTreeMap::new();
    let mut updated = Vec::new();
    let mut warnings = Vec::new();
    let meta = pkg
        .tosca_meta()
        .map(|m| m.files.clone())
        .unwrap_or_default();
    let manifest = pkg
        .manifest()
        .map(|m| m.entries.clone())
        .unwrap_or_default();
    let manifest_path = pkg.manifest_path().map(str::to_string);

    let mut meta_text = if pkg.tosca_meta().is_some() {
        Some(pkg.read_text(TOSCA_META_PATH)?)
    } else {
        None
    };
    let current = |texts: &BTreeMap<String, String>, path: &str, original: &str| {
        texts
            .get(path)
            .cloned()
            .unwrap_or_else(|| original.to_string())
    };
    if let Some(t) = &meta_text
        && let Some(new) = refresh_set(
            pkg,
            TOSCA_META_PATH,
            t,
            &meta,
            &texts,
            &mut updated,
            &mut warnings,
        )?
    {
        texts.insert(TOSCA_META_PATH.to_string(), new.clone());
        meta_text = Some(new);
    }
    if let Some(mp) = &manifest_path {
        let original = pkg.read_text(mp)?;
        // Reparse positions are unchanged: only Hash values change, never line numbers.
        if let Some(new) = refresh_set(
            pkg,
            mp,
            &current(&texts, mp, &original),
            &manifest,
            &texts,
            &mut updated,
            &mut warnings,
        )? {
            texts.insert(mp.clone(), new);
        }
        // TOSCA.meta may list the manifest, whose contents just changed.
        if let Some(t) = &meta_text
            && texts.contains_key(mp)
            && lists(&meta, mp)
        {
            let only_manifest: Vec<DigestEntry> = meta
                .iter()
                .filter(|e| e.local_source().as_deref() == Some(mp.as_str()))
                .cloned()
                .collect();
            if let Some(new) = refresh_set(
                pkg,
                TOSCA_META_PATH,
                t,
                &only_manifest,
                &texts,
                &mut updated,
                &mut warnings,
            )? {
                texts.insert(TOSCA_META_PATH.to_string(), new);
                if lists(&manifest, TOSCA_META_PATH) {
                    warnings.push(format!(
                        "{mp} and {TOSCA_META_PATH} list each other's digests; they cannot both be correct"
                    ));
                }
            }
        }
    }
    updated.sort();
    updated.dedup();
    Ok(Refreshed {
        texts,
        updated,
        warnings,
    })
}

fn unlisted(report: &Report) -> Vec<String> {
    report
        .findings
        .iter()
        .filter(|f| f.code == codes::UNLISTED_FILE)
        .filter_map(|f| f.location.file.clone())
        .collect()
}

fn write_back(dir: &Path, texts: &BTreeMap<String, String>) -> Result<(), Error> {
    for (rel, text) in texts {
        let path = dir.join(rel);
        std::fs::write(&path, text).map_err(|e| Error::io(&path, e))?;
    }
    Ok(())
}

/// Recomputes every `Hash:` of the manifest and of TOSCA.meta per-file blocks in the
/// package directory `dir` (keeping each entry's algorithm and the rest of the text) and
/// writes the changed files back. Returns the updated entries as `file:line: source`.
///
/// Refuses (with [`Error::Invalid`]) a directory that fails layout checks; malformed
/// hash values (e.g. `<Calculated value here>`) are repaired, not refused.
pub fn refresh_digests(dir: &Path) -> Result<Vec<String>, Error> {
    let (pkg, _) = open_dir(dir)?;
    let r = refresh(&pkg)?;
    write_back(dir, &r.texts)?;
    Ok(r.updated)
}

#[cfg(unix)]
fn unix_mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    match std::fs::metadata(path) {
        Ok(m) if m.permissions().mode() & 0o111 != 0 => 0o755,
        _ => 0o644,
    }
}

#[cfg(not(unix))]
fn unix_mode(_path: &Path) -> u32 {
    0o644
}

/// Writes the package directory `dir` as a CSAR at `out` with refreshed digests.
///
/// The zip is deterministic: entries sorted by path, fixed timestamps (1980-01-01),
/// normalized permissions (0644, or 0755 when executable), fixed compression; the same
/// directory gives a byte-identical CSAR. Only existing `Hash:` values are updated;
/// unlisted files are reported in [`PackSummary::unlisted`], not added. The directory is
/// left unchanged unless [`PackOptions::update_in_place`] is set.
pub fn pack(dir: &Path, out: &Path, opts: &PackOptions) -> Result<PackSummary, Error> {
    let (pkg, report) = open_dir(dir)?;
    let refreshed = refresh(&pkg)?;

    // Leave out the output file itself if it lives inside the package directory.
    let out_canon = std::fs::canonicalize(out).ok();
    let mut names: Vec<String> = Vec::new();
    let mut skipped: BTreeSet<String> = BTreeSet::new();
    for rel in pkg.files() {
        let disk = dir.join(&rel);
        if out_canon.is_some() && std::fs::canonicalize(&disk).ok() == out_canon {
            skipped.insert(rel);
            continue;
        }
        names.push(rel);
    }

    let parent = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if !parent.is_dir() {
        return Err(Error::io(
            out,
            std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("output directory {} does not exist", parent.display()),
            ),
        ));
    }
    let file_name = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "package.csar".to_string());
    let tmp = parent.join(format!(".{file_name}.tmp{}", std::process::id()));
    let result = write_zip(&pkg, dir, &names, &refreshed.texts, &tmp);
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    std::fs::rename(&tmp, out).map_err(|e| Error::io(out, e))?;
    let bytes = std::fs::metadata(out).map(|m| m.len()).unwrap_or(0);

    if opts.update_in_place {
        write_back(dir, &refreshed.texts)?;
    }
    let mut warnings = refreshed.warnings;
    for s in skipped {
        warnings.push(format!("`{s}` is the output file; not packed"));
    }
    Ok(PackSummary {
        output: out.to_path_buf(),
        files: names.len(),
        bytes,
        updated: refreshed.updated,
        unlisted: unlisted(&report),
        warnings,
    })
}

fn write_zip(
    pkg: &Package,
    dir: &Path,
    names: &[String],
    texts: &BTreeMap<String, String>,
    tmp: &Path,
) -> Result<(), Error> {
    use zip::write::SimpleFileOptions;
    let zerr = |e: zip::result::ZipError| Error::Zip {
        path: tmp.to_path_buf(),
        source: e,
    };
    let file = std::fs::File::create(tmp).map_err(|e| Error::io(tmp, e))?;
    let mut zw = zip::ZipWriter::new(std::io::BufWriter::with_capacity(1 << 20, file));
    for rel in names {
        let ext = rel.rsplit('.').next().unwrap_or("").to_ascii_lowercase();
        let size = pkg.size(rel).unwrap_or(0);
        let method = if STORED_EXTENSIONS.contains(&ext.as_str()) {
            zip::CompressionMethod::Stored
        } else {
            zip::CompressionMethod::Deflated
        };
        let options = SimpleFileOptions::default()
            .compression_method(method)
            .compression_level(None)
            .last_modified_time(zip::DateTime::default())
            .unix_permissions(unix_mode(&dir.join(rel)))
            .large_file(size >= u64::from(u32::MAX));
        zw.start_file(rel.as_str(), options).map_err(zerr)?;
        match texts.get(rel) {
            Some(t) => zw.write_all(t.as_bytes()).map_err(|e| Error::io(tmp, e))?,
            None => {
                pkg.with_reader(rel, |r| std::io::copy(r, &mut zw).map(|_| ()))?;
            }
        }
    }
    let w = zw.finish().map_err(zerr)?;
    let file = w.into_inner().map_err(|e| Error::io(tmp, e.into_error()))?;
    file.sync_all().map_err(|e| Error::io(tmp, e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rewrite_keeps_other_bytes() {
        let text = "Name: a\r\nHash: 'old'  \r\n# comment\nHash: x";
        let mut m = BTreeMap::new();
        m.insert(2, (7, "new".to_string()));
        m.insert(4, (7, "zz".to_string()));
        assert_eq!(
            rewrite_lines(text, &m),
            "Name: a\r\nHash: new\r\n# comment\nHash: zz"
        );
    }
}

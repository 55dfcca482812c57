//! [`Package`]: a SOL004 package opened from a directory or a CSAR zip.

use super::digest::{Algorithm, HASH_BUFFER, hash_reader_with};
use super::manifest::{MANIFEST_DIGEST_CODES, Manifest};
use super::meta::{DigestCodes, META_DIGEST_CODES, ToscaMeta};
use super::path::{file_name, is_absolute, normalize, resolve, stem};
use super::{DigestEntry, Error, Field, TOSCA_META_PATH, codes};
use crate::diag::{Location, Report};
use rayon::prelude::*;
use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Size limits applied when reading a package (defence against zip bombs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest uncompressed size of one entry (default 16 GiB: VM images are large).
    pub max_entry_size: u64,
    /// Largest total uncompressed size of all entries (default 64 GiB).
    pub max_total_size: u64,
    /// Largest number of files (default 100 000).
    pub max_entries: usize,
    /// Largest file [`Package::read`] loads into memory (default 256 MiB).
    pub max_read_size: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_entry_size: 16 << 30,
            max_total_size: 64 << 30,
            max_entries: 100_000,
            max_read_size: 256 << 20,
        }
    }
}

/// A `Read + Seek` over a shared file using positional reads, so a `ZipArchive` can be
/// cloned cheaply for parallel readers.
#[derive(Debug, Clone)]
struct SharedFile {
    file: Arc<File>,
    pos: u64,
    len: u64,
}

impl Read for SharedFile {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        #[cfg(unix)]
        let n = std::os::unix::fs::FileExt::read_at(&*self.file, buf, self.pos)?;
        #[cfg(windows)]
        let n = std::os::windows::fs::FileExt::seek_read(&*self.file, buf, self.pos)?;
        self.pos += n as u64;
        Ok(n)
    }
}

impl Seek for SharedFile {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        let new = match pos {
            SeekFrom::Start(p) => Some(p),
            SeekFrom::End(d) => self.len.checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        match new {
            Some(p) => {
                self.pos = p;
                Ok(p)
            }
            None => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "seek before the start of the file",
            )),
        }
    }
}

type Archive = zip::ZipArchive<SharedFile>;

#[derive(Debug)]
enum Store {
    Dir,
    Zip(Archive),
    /// The zip could not be read; the package has no files.
    Broken,
}

#[derive(Debug, Clone)]
struct FileInfo {
    size: u64,
    /// Index in the zip archive.
    zip_index: Option<usize>,
    /// Path on disk (directory packages).
    disk: Option<PathBuf>,
}

/// A SOL004 VNF package opened from a directory or a `.csar`/`.zip` file.
///
/// Opening never follows anything outside the package: zip entries that escape
/// (`../`), absolute entries, and directory symlinks whose target is outside the root are
/// reported and left out, so [`Package::read`] can only reach the package's own files.
#[derive(Debug)]
pub struct Package {
    source: PathBuf,
    store: Store,
    files: BTreeMap<String, FileInfo>,
    dirs: BTreeSet<String>,
    entry_definitions: Option<String>,
    tosca_meta: Option<ToscaMeta>,
    manifest: Option<Manifest>,
    manifest_path: Option<String>,
    limits: Limits,
}

impl Package {
    /// Opens a directory or a .csar/.zip file; layout errors go to `report`; `Err` only
    /// when the path itself cannot be read (→ CLI exit 2).
    ///
    /// Checks layout, parses TOSCA.meta and the manifest, and checks that every file they
    /// name exists. Digests are checked separately by [`Package::verify_digests`].
    pub fn open(path: &Path, report: &mut Report) -> Result<Package, Error> {
        Self::open_with_limits(path, Limits::default(), report)
    }

    /// [`Package::open`] with explicit size limits.
    pub fn open_with_limits(
        path: &Path,
        limits: Limits,
        report: &mut Report,
    ) -> Result<Package, Error> {
        let md = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
        let mut pkg = Package {
            source: path.to_path_buf(),
            store: Store::Broken,
            files: BTreeMap::new(),
            dirs: BTreeSet::new(),
            entry_definitions: None,
            tosca_meta: None,
            manifest: None,
            manifest_path: None,
            limits,
        };
        let shown = path.display().to_string();
        if md.is_dir() {
            pkg.store = Store::Dir;
            pkg.scan_dir(report)?;
        } else {
            let file = File::open(path).map_err(|e| Error::io(path, e))?;
            let shared = SharedFile {
                file: Arc::new(file),
                pos: 0,
                len: md.len(),
            };
            match zip::ZipArchive::new(shared) {
                Ok(archive) => {
                    pkg.scan_zip(&archive, &shown, report);
                    pkg.store = Store::Zip(archive);
                }
                Err(e) => report.error(
                    codes::BAD_ZIP,
                    format!("not a readable zip/CSAR archive: {e}"),
                    Location::file(shown.clone()),
                ),
            }
        }
        for f in pkg.files.keys() {
            let mut p = f.as_str();
            while let Some(pos) = p.rfind('/') {
                p = &p[..pos];
                pkg.dirs.insert(p.to_string());
            }
        }
        if pkg.files.is_empty() && !matches!(pkg.store, Store::Broken) {
            report.error(
                codes::EMPTY,
                "the package contains no files",
                Location::file(shown),
            );
        } else if !pkg.files.is_empty() {
            pkg.layout(report);
        }
        Ok(pkg)
    }

    fn scan_dir(&mut self, report: &mut Report) -> Result<(), Error> {
        let root = self.source.clone();
        let canon_root = std::fs::canonicalize(&root).map_err(|e| Error::io(&root, e))?;
        let mut visited: BTreeSet<PathBuf> = BTreeSet::new();
        visited.insert(canon_root.clone());
        let mut stack: Vec<(PathBuf, String)> = vec![(root.clone(), String::new())];
        let mut total = 0u64;
        while let Some((dir, prefix)) = stack.pop() {
            let rd = std::fs::read_dir(&dir).map_err(|e| Error::io(&dir, e))?;
            let mut entries: Vec<_> = rd
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| Error::io(&dir, e))?;
            entries.sort_by_key(|e| e.file_name());
            for entry in entries {
                let disk = entry.path();
                let Some(name) = entry.file_name().to_str().map(str::to_string) else {
                    report.error(
                        codes::BAD_NAME,
                        format!("file name {:?} is not valid UTF-8", entry.file_name()),
                        Location::file(format!("{prefix}{}", entry.file_name().to_string_lossy())),
                    );
                    continue;
                };
                let rel = format!("{prefix}{name}");
                if name.contains('\\') {
                    report.error(
                        codes::BAD_NAME,
                        "file name contains a backslash, which is not portable",
                        Location::file(rel),
                    );
                    continue;
                }
                let lmd = entry.metadata().map_err(|e| Error::io(&disk, e))?;
                let (is_dir, size) = if lmd.file_type().is_symlink() {
                    let target = match std::fs::canonicalize(&disk) {
                        Ok(t) => t,
                        Err(e) => {
                            report.error(
                                codes::BROKEN_SYMLINK,
                                format!("symlink cannot be resolved: {e}"),
                                Location::file(rel),
                            );
                            continue;
                        }
                    };
                    if !target.starts_with(&canon_root) {
                        let shown = std::fs::read_link(&disk)
                            .map(|t| t.display().to_string())
                            .unwrap_or_else(|_| target.display().to_string());
                        report.error(
                            codes::SYMLINK_ESCAPE,
                            format!("symlink points outside the package (to {shown})"),
                            Location::file(rel),
                        );
                        continue;
                    }
                    let tmd = std::fs::metadata(&target).map_err(|e| Error::io(&target, e))?;
                    if tmd.is_dir() && !visited.insert(target.clone()) {
                        // Already walked (symlink cycle or second link to the same dir).
                        continue;
                    }
                    (tmd.is_dir(), tmd.len())
                } else {
                    if lmd.is_dir()
                        && let Ok(c) = std::fs::canonicalize(&disk)
                    {
                        visited.insert(c);
                    }
                    (lmd.is_dir(), lmd.len())
                };
                if is_dir {
                    stack.push((disk, format!("{rel}/")));
                } else if lmd.is_file() || lmd.file_type().is_symlink() {
                    if self.files.len() >= self.limits.max_entries {
                        report.error(
                            codes::TOO_LARGE,
                            format!(
                                "more than {} files; the rest are ignored",
                                self.limits.max_entries
                            ),
                            Location::file(self.source.display().to_string()),
                        );
                        return Ok(());
                    }
                    total = total.saturating_add(size);
                    self.files.insert(
                        rel,
                        FileInfo {
                            size,
                            zip_index: None,
                            disk: Some(disk),
                        },
                    );
                }
            }
        }
        if total > self.limits.max_total_size {
            report.error(
                codes::TOO_LARGE,
                format!(
                    "total size {total} bytes exceeds the limit of {} bytes",
                    self.limits.max_total_size
                ),
                Location::file(self.source.display().to_string()),
            );
        }
        Ok(())
    }

    fn scan_zip(&mut self, archive: &Archive, shown: &str, report: &mut Report) {
        let mut archive = archive.clone();
        let mut total = 0u64;
        let mut total_reported = false;
        if archive.len() > self.limits.max_entries {
            report.error(
                codes::TOO_LARGE,
                format!(
                    "{} entries exceed the limit of {}; the rest are ignored",
                    archive.len(),
                    self.limits.max_entries
                ),
                Location::file(shown),
            );
        }
        for i in 0..archive.len().min(self.limits.max_entries) {
            let (name, is_dir, is_symlink, encrypted, size, enclosed) =
                match archive.by_index_raw(i) {
                    Ok(f) => match f.name() {
                        Ok(n) => (
                            n.into_owned(),
                            f.is_dir(),
                            f.is_symlink(),
                            f.encrypted(),
                            f.size(),
                            f.enclosed_name().is_some(),
                        ),
                        Err(e) => {
                            report.error(
                                codes::BAD_NAME,
                                format!("entry #{i} has an unreadable name: {e}"),
                                Location::file(shown),
                            );
                            continue;
                        }
                    },
                    Err(e) => {
                        report.error(
                            codes::BAD_ZIP,
                            format!("entry #{i} cannot be read: {e}"),
                            Location::file(shown),
                        );
                        continue;
                    }
                };
            let loc = Location::file(name.clone());
            if name.contains('\0') {
                report.error(codes::BAD_NAME, "entry name contains NUL", loc);
                continue;
            }
            if is_absolute(&name) {
                report.error(
                    codes::ABSOLUTE_PATH,
                    format!("entry `{name}` has an absolute path"),
                    loc,
                );
                continue;
            }
            if name.contains('\\') {
                report.error(
                    codes::BAD_NAME,
                    format!("entry `{name}` contains a backslash"),
                    loc,
                );
                continue;
            }
            let Some(rel) = normalize(&name).filter(|_| enclosed) else {
                if is_dir && normalize(&name).is_none() && !name.contains("..") {
                    continue; // "./" or "/" style root directory entries
                }
                report.error(
                    codes::UNSAFE_PATH,
                    format!("entry `{name}` escapes the package root (zip-slip)"),
                    loc,
                );
                continue;
            };
            if is_dir {
                self.dirs.insert(rel);
                continue;
            }
            if is_symlink {
                let mut target = String::new();
                let read = archive
                    .by_index(i)
                    .map_err(io::Error::other)
                    .and_then(|f| f.take(4096).read_to_string(&mut target));
                match read {
                    Ok(_) if resolve(&rel, target.trim()).is_none() => report.error(
                        codes::SYMLINK_ESCAPE,
                        format!(
                            "symlink entry points outside the package (to {})",
                            target.trim()
                        ),
                        loc,
                    ),
                    Ok(_) => report.warning(
                        codes::ZIP_SYMLINK,
                        format!("symlink entry (to {}) is not followed", target.trim()),
                        loc,
                    ),
                    Err(e) => report.error(
                        codes::BAD_ZIP,
                        format!("symlink entry cannot be read: {e}"),
                        loc,
                    ),
                }
                continue;
            }
            if encrypted {
                report.error(
                    codes::ENCRYPTED_ENTRY,
                    "encrypted entries are not supported",
                    loc,
                );
                continue;
            }
            if size > self.limits.max_entry_size {
                report.error(
                    codes::TOO_LARGE,
                    format!(
                        "uncompressed size {size} bytes exceeds the per-entry limit of {} bytes",
                        self.limits.max_entry_size
                    ),
                    loc,
                );
                continue;
            }
            total = total.saturating_add(size);
            if total > self.limits.max_total_size && !total_reported {
                total_reported = true;
                report.error(
                    codes::TOO_LARGE,
                    format!(
                        "total uncompressed size exceeds the limit of {} bytes",
                        self.limits.max_total_size
                    ),
                    Location::file(shown),
                );
            }
            if self.files.contains_key(&rel) {
                report.error(
                    codes::DUPLICATE_ENTRY,
                    format!("`{rel}` appears more than once in the archive"),
                    loc,
                );
                continue;
            }
            self.files.insert(
                rel,
                FileInfo {
                    size,
                    zip_index: Some(i),
                    disk: None,
                },
            );
        }
    }

    /// Reads a text file of the package for layout parsing; problems become findings.
    fn layout_text(&self, rel: &str, report: &mut Report) -> Option<String> {
        match self.read_text(rel) {
            Ok(t) => Some(t.strip_prefix('\u{feff}').map(str::to_string).unwrap_or(t)),
            Err(Error::NotUtf8 { offset, .. }) => {
                let line = self
                    .read(rel)
                    .map(|b| {
                        b[..offset.min(b.len())]
                            .iter()
                            .filter(|c| **c == b'\n')
                            .count()
                            + 1
                    })
                    .unwrap_or(1);
                report.error(
                    codes::NOT_UTF8,
                    format!("not valid UTF-8 at byte {offset}"),
                    Location::at(rel, u32::try_from(line).unwrap_or(u32::MAX), 1),
                );
                None
            }
            Err(e) => {
                report.error(e.code(), e.to_string(), Location::file(rel));
                None
            }
        }
    }

    fn layout(&mut self, report: &mut Report) {
        if self.files.contains_key(TOSCA_META_PATH) {
            let Some(text) = self.layout_text(TOSCA_META_PATH, report) else {
                return;
            };
            let meta = ToscaMeta::parse(&text, TOSCA_META_PATH, report);
            let at = |f: &Field| Location::at(TOSCA_META_PATH, f.line, f.column);
            if let Some(f) = &meta.entry_definitions
                && let Some(p) = normalize(&f.value)
            {
                if self.files.contains_key(&p) {
                    self.entry_definitions = Some(p);
                } else {
                    report.error(
                        codes::ENTRY_DEFINITIONS_NOT_FOUND,
                        format!("Entry-Definitions `{}` is not in the package", f.value),
                        at(f),
                    );
                }
            }
            for (key, f) in meta.path_keys() {
                if key == "Entry-Definitions" {
                    continue;
                }
                if let Some(p) = normalize(&f.value)
                    && !self.files.contains_key(&p)
                    && !self.dirs.contains(&p)
                {
                    report.error(
                        codes::META_ENTRY_NOT_FOUND,
                        format!("{key} `{}` is not in the package", f.value),
                        at(f),
                    );
                }
            }
            match meta.manifest_path() {
                Some(p) if self.files.contains_key(&p) => self.manifest_path = Some(p),
                Some(_) => {} // reported above
                None if meta.entry_manifest.is_none() => report.warning(
                    codes::MANIFEST_MISSING,
                    "TOSCA.meta has no ETSI-Entry-Manifest; the package has no manifest (SOL004 requires one)",
                    Location::file(TOSCA_META_PATH),
                ),
                None => {}
            }
            self.check_listed(&meta.files, TOSCA_META_PATH, &META_DIGEST_CODES, report);
            self.tosca_meta = Some(meta);
        } else {
            let root_yaml: Vec<&String> = self
                .files
                .keys()
                .filter(|f| !f.contains('/') && (f.ends_with(".yaml") || f.ends_with(".yml")))
                .collect();
            let root_mf: Vec<&String> = self
                .files
                .keys()
                .filter(|f| !f.contains('/') && f.ends_with(".mf"))
                .collect();
            let top = Location::file(self.source.display().to_string());
            match root_yaml.as_slice() {
                [] => report.error(
                    codes::NO_ENTRY_DEFINITIONS,
                    "no TOSCA-Metadata/TOSCA.meta and no YAML file at the package root",
                    top,
                ),
                [one] => {
                    let want = format!("{}.mf", stem(file_name(one)));
                    if self.files.contains_key(&want) {
                        self.manifest_path = Some(want);
                    } else if let Some(found) = root_mf.first() {
                        report.error(
                            codes::MANIFEST_NAME_MISMATCH,
                            format!("the manifest must be named `{want}` after the root YAML `{one}`"),
                            Location::file(found.as_str()),
                        );
                    } else {
                        report.warning(
                            codes::MANIFEST_MISSING,
                            format!("no manifest `{want}` at the package root (SOL004 requires one)"),
                            top,
                        );
                    }
                    self.entry_definitions = Some((*one).clone());
                }
                many => report.error(
                    codes::AMBIGUOUS_ENTRY_DEFINITIONS,
                    format!(
                        "no TOSCA-Metadata/TOSCA.meta and {} YAML files at the package root ({}); exactly one is allowed",
                        many.len(),
                        many.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
                    ),
                    top,
                ),
            }
            if self.manifest_path.is_none() && root_yaml.len() != 1 && root_mf.len() == 1 {
                self.manifest_path = root_mf.first().map(|s| (*s).clone());
            }
        }

        if let Some(mp) = self.manifest_path.clone() {
            let Some(text) = self.layout_text(&mp, report) else {
                return;
            };
            let manifest = Manifest::parse(&text, &mp, report);
            self.check_listed(&manifest.entries, &mp, &MANIFEST_DIGEST_CODES, report);
            for set in &manifest.non_mano_artifact_sets {
                for s in &set.sources {
                    if let Some(p) = normalize(&s.value)
                        && !self.files.contains_key(&p)
                    {
                        report.error(
                            codes::FILE_MISSING,
                            format!("non-MANO artifact `{}` is not in the package", s.value),
                            Location::at(mp.as_str(), s.line, s.column),
                        );
                    }
                }
            }
            let listed = manifest.listed_paths();
            for f in self.files.keys() {
                if f == &mp || f == TOSCA_META_PATH || listed.contains(f) {
                    continue;
                }
                report.warning(
                    codes::UNLISTED_FILE,
                    format!("`{f}` is not listed in the manifest `{mp}`"),
                    Location::file(f.as_str()),
                );
            }
            self.manifest = Some(manifest);
        }
    }

    fn check_listed(
        &self,
        entries: &[DigestEntry],
        file: &str,
        c: &DigestCodes,
        report: &mut Report,
    ) {
        for e in entries {
            if let (Some(s), Some(p)) = (&e.source, e.local_source())
                && !self.files.contains_key(&p)
            {
                report.error(
                    c.file_missing,
                    format!("`{}` is listed but not in the package", s.value),
                    Location::at(file, s.line, s.column),
                );
            }
        }
    }

    /// Normalized package-relative path of the main VNFD (`Definitions/top.vnfd.yaml`).
    pub fn entry_definitions(&self) -> Option<&str> {
        self.entry_definitions.as_deref()
    }

    /// True when `rel` (normalized, package-relative) is a regular file of the package.
    pub fn contains(&self, rel: &str) -> bool {
        self.files.contains_key(rel)
    }

    /// True when `rel` is a directory of the package (has files below it).
    pub fn contains_dir(&self, rel: &str) -> bool {
        self.dirs.contains(rel)
    }

    /// Size in bytes of a package file (declared size for zip entries).
    pub fn size(&self, rel: &str) -> Option<u64> {
        self.files.get(rel).map(|f| f.size)
    }

    /// All regular files, sorted.
    pub fn files(&self) -> Vec<String> {
        self.files.keys().cloned().collect()
    }

    /// The parsed TOSCA.meta, when the package has one.
    pub fn tosca_meta(&self) -> Option<&ToscaMeta> {
        self.tosca_meta.as_ref()
    }

    /// The parsed manifest, when the package has one.
    pub fn manifest(&self) -> Option<&Manifest> {
        self.manifest.as_ref()
    }

    /// Package-relative path of the manifest.
    pub fn manifest_path(&self) -> Option<&str> {
        self.manifest_path.as_deref()
    }

    /// What was opened.
    pub fn source(&self) -> &Path {
        &self.source
    }

    /// True when the package was opened from a zip/CSAR file.
    pub fn is_zip(&self) -> bool {
        !matches!(self.store, Store::Dir)
    }

    /// Streams a package file through `f`. Zip entries are limited to their declared
    /// uncompressed size: an entry that inflates to more is an error (zip bomb guard).
    pub fn with_reader<T>(
        &self,
        rel: &str,
        f: impl FnOnce(&mut dyn Read) -> io::Result<T>,
    ) -> Result<T, Error> {
        let info = self
            .files
            .get(rel)
            .ok_or_else(|| Error::NotFound(rel.to_string()))?;
        match (&self.store, &info.disk, info.zip_index) {
            (Store::Dir, Some(disk), _) => {
                let mut file = File::open(disk).map_err(|e| Error::io(disk, e))?;
                f(&mut file).map_err(|e| self.read_error(rel, e))
            }
            (Store::Zip(archive), _, Some(i)) => {
                let mut archive = archive.clone();
                let entry = archive.by_index(i).map_err(|e| Error::Zip {
                    path: self.entry_path(rel),
                    source: e,
                })?;
                let mut limited = Bounded {
                    inner: entry,
                    left: info.size,
                };
                f(&mut limited).map_err(|e| self.read_error(rel, e))
            }
            _ => Err(Error::NotFound(rel.to_string())),
        }
    }

    fn entry_path(&self, rel: &str) -> PathBuf {
        PathBuf::from(format!("{}!{rel}", self.source.display()))
    }

    /// Reads a whole package file into memory (at most [`Limits::max_read_size`] bytes).
    pub fn read(&self, rel: &str) -> Result<Vec<u8>, Error> {
        let size = self
            .files
            .get(rel)
            .ok_or_else(|| Error::NotFound(rel.to_string()))?
            .size;
        let limit = self.limits.max_read_size;
        if size > limit {
            return Err(Error::TooLarge {
                path: rel.to_string(),
                size,
                limit,
            });
        }
        let mut out = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
        self.with_reader(rel, |r| r.take(limit + 1).read_to_end(&mut out))?;
        if out.len() as u64 > limit {
            return Err(Error::TooLarge {
                path: rel.to_string(),
                size: out.len() as u64,
                limit,
            });
        }
        Ok(out)
    }

    /// Reads a package file as UTF-8 text.
    pub fn read_text(&self, rel: &str) -> Result<String, Error> {
        let bytes = self.read(rel)?;
        String::from_utf8(bytes).map_err(|e| Error::NotUtf8 {
            path: rel.to_string(),
            offset: e.utf8_error().valid_up_to(),
        })
    }

    fn read_error(&self, rel: &str, e: io::Error) -> Error {
        match &self.store {
            Store::Dir => Error::io(self.source.join(rel), e),
            _ => Error::Io {
                path: self.entry_path(rel),
                source: e,
            },
        }
    }

    /// Hashes one package file (streaming).
    pub fn hash(&self, rel: &str, algorithm: Algorithm) -> Result<String, Error> {
        let mut buf = vec![0u8; HASH_BUFFER];
        self.hash_with(rel, algorithm, &mut buf)
    }

    fn hash_with(&self, rel: &str, algorithm: Algorithm, buf: &mut [u8]) -> Result<String, Error> {
        self.with_reader(rel, |r| hash_reader_with(r, algorithm, buf).map(|(h, _)| h))
    }

    /// Verifies every local digest of the manifest and of TOSCA.meta per-file blocks,
    /// images included. Files are hashed in parallel (rayon), each streamed through a
    /// 1 MiB buffer; each (file, algorithm) pair is hashed once. Findings are reported
    /// in file order. Missing files were already reported by [`Package::open`].
    pub fn verify_digests(&self, report: &mut Report) {
        let mut sets: Vec<(&str, &[DigestEntry], &DigestCodes)> = Vec::new();
        if let Some(m) = &self.tosca_meta {
            sets.push((TOSCA_META_PATH, &m.files, &META_DIGEST_CODES));
        }
        if let (Some(m), Some(p)) = (&self.manifest, &self.manifest_path) {
            sets.push((p.as_str(), &m.entries, &MANIFEST_DIGEST_CODES));
        }
        let checkable = |e: &DigestEntry| -> Option<(String, Algorithm, String)> {
            let p = e.local_source()?;
            let alg = e.algorithm()?;
            let h = e.hash.as_ref()?;
            (self.files.contains_key(&p) && alg.is_well_formed(&h.value))
                .then(|| (p, alg, h.value.to_ascii_lowercase()))
        };
        let jobs: BTreeSet<(String, Algorithm)> = sets
            .iter()
            .flat_map(|(_, entries, _)| entries.iter())
            .filter_map(|e| checkable(e).map(|(p, a, _)| (p, a)))
            .collect();
        let jobs: Vec<(String, Algorithm)> = jobs.into_iter().collect();
        let results: BTreeMap<(String, Algorithm), Result<String, Error>> = jobs
            .into_par_iter()
            .map_init(
                || vec![0u8; HASH_BUFFER],
                |buf, (p, a)| {
                    let r = self.hash_with(&p, a, buf);
                    ((p, a), r)
                },
            )
            .collect();
        let mut read_failed = BTreeSet::new();
        for (file, entries, c) in sets {
            for e in entries {
                let Some((p, alg, expected)) = checkable(e) else {
                    continue;
                };
                let Some(h) = &e.hash else { continue };
                let loc = Location::at(file, h.line, h.column);
                match results.get(&(p.clone(), alg)) {
                    Some(Ok(actual)) if *actual == expected => {}
                    Some(Ok(actual)) => report.error(
                        c.mismatch,
                        format!("{alg} of `{p}` is {actual}, but {file} says {}", h.value),
                        loc,
                    ),
                    Some(Err(err)) if read_failed.insert(p.clone()) => report.error(
                        codes::DIGEST_READ_FAILED,
                        format!("cannot hash `{p}`: {err}"),
                        loc,
                    ),
                    Some(Err(_)) => {}
                    None => {}
                }
            }
        }
    }
}

/// A reader that fails when `inner` yields more than `left` bytes.
struct Bounded<R> {
    inner: R,
    left: u64,
}

impl<R: Read> Read for Bounded<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        match self.left.checked_sub(n as u64) {
            Some(left) => {
                self.left = left;
                Ok(n)
            }
            None => Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "entry inflates to more than its declared size",
            )),
        }
    }
}

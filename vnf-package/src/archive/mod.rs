//! SOL004 package access: directory or CSAR zip, `TOSCA-Metadata/TOSCA.meta`, the `.mf`
//! manifest, streaming parallel digest verification, and `pack`.
//!
//! * [`Package::open`] reads the layout (either `TOSCA-Metadata/TOSCA.meta`, or a single
//!   root YAML plus a same-named `.mf`), rejects zip-slip / absolute entries, symlinks that
//!   escape the package and oversized entries, parses TOSCA.meta and the manifest, and
//!   checks that every file they list exists.
//! * [`Package::verify_digests`] hashes every listed file (images included) in parallel,
//!   streaming through a 1 MiB buffer, and compares with the manifest and TOSCA.meta.
//! * [`pack`] writes a deterministic CSAR with refreshed digests; [`refresh_digests`] only
//!   refreshes them in a directory.
//!
//! TOSCA.meta and manifest parsing are pure functions on text ([`ToscaMeta::parse`],
//! [`Manifest::parse`]) that never panic and report every problem as a finding.

pub mod digest;
pub mod manifest;
pub mod meta;
mod pack;
mod package;
mod path;

pub use digest::{Algorithm, hash_bytes, hash_file, hash_reader};
pub use manifest::{Manifest, ManifestMetadata, NonManoSet};
pub use meta::ToscaMeta;
pub use pack::{PackOptions, PackSummary, pack, refresh_digests};
pub use package::{Limits, Package};
pub use path::{is_url, normalize, resolve};

use crate::diag::Code;
use std::path::PathBuf;

/// Path of the TOSCA metadata file inside a package.
pub const TOSCA_META_PATH: &str = "TOSCA-Metadata/TOSCA.meta";

/// A `key: value` taken from TOSCA.meta or a manifest, with its 1-based position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    /// The value, trimmed, with one pair of surrounding quotes removed.
    pub value: String,
    /// 1-based line of the `key: value` line.
    pub line: u32,
    /// 1-based column where the value starts.
    pub column: u32,
}

/// One artifact entry with a digest: a manifest `Source`/`Algorithm`/`Hash` block or a
/// TOSCA.meta `Name`/`Content-Type`/`Algorithm`/`Hash` block.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DigestEntry {
    /// `Source` (manifest) or `Name` (TOSCA.meta) as written.
    pub source: Option<Field>,
    /// `Algorithm` as written.
    pub algorithm: Option<Field>,
    /// `Hash` as written.
    pub hash: Option<Field>,
    /// Other keys of the block (`Content-Type`, `Signature`, `Certificate`, …), in order.
    pub extra: Vec<(String, Field)>,
    /// 1-based first line of the block.
    pub line: u32,
}

impl DigestEntry {
    /// The parsed algorithm, if present and known.
    pub fn algorithm(&self) -> Option<Algorithm> {
        self.algorithm
            .as_ref()
            .and_then(|a| Algorithm::parse(&a.value))
    }

    /// The normalized package-relative source path, if it is a local path.
    pub fn local_source(&self) -> Option<String> {
        self.source.as_ref().and_then(|s| normalize(&s.value))
    }

    /// True when the source is a URL (`http://`, `https://`, `ftp://`, …).
    pub fn is_remote(&self) -> bool {
        self.source.as_ref().is_some_and(|s| is_url(&s.value))
    }
}

pub mod codes {
    //! Finding codes of the archive layer.
    crate::codes! {
        /// The package path cannot be read.
        IO = "package.io";
        /// The zip archive cannot be read.
        ZIP = "package.zip";
        /// A file was requested that is not in the package.
        FILE_NOT_FOUND = "package.file_not_found";
        /// A text file of the package is not valid UTF-8.
        NOT_UTF8 = "package.not_utf8";
        /// The package has errors and cannot be packed.
        INVALID = "package.invalid";

        /// The file is not a readable zip archive.
        BAD_ZIP = "package.layout.bad_zip";
        /// The package contains no files.
        EMPTY = "package.layout.empty";
        /// A zip entry name escapes the package root (zip-slip, `../`).
        UNSAFE_PATH = "package.layout.unsafe_path";
        /// A zip entry name is an absolute path.
        ABSOLUTE_PATH = "package.layout.absolute_path";
        /// A symlink points outside the package root.
        SYMLINK_ESCAPE = "package.layout.symlink_escape";
        /// A symlink in a directory package points to nothing.
        BROKEN_SYMLINK = "package.layout.broken_symlink";
        /// A symlink entry in a CSAR is not followed.
        ZIP_SYMLINK = "package.layout.zip_symlink";
        /// A file name is not valid UTF-8 or contains a backslash or NUL.
        BAD_NAME = "package.layout.bad_name";
        /// Two zip entries have the same normalized name.
        DUPLICATE_ENTRY = "package.layout.duplicate_entry";
        /// A zip entry is encrypted.
        ENCRYPTED_ENTRY = "package.layout.encrypted_entry";
        /// An entry or the whole package exceeds the uncompressed size limits (zip bomb).
        TOO_LARGE = "package.layout.too_large";
        /// Without TOSCA-Metadata, no YAML file exists at the package root.
        NO_ENTRY_DEFINITIONS = "package.layout.no_entry_definitions";
        /// Without TOSCA-Metadata, more than one YAML file exists at the package root.
        AMBIGUOUS_ENTRY_DEFINITIONS = "package.layout.ambiguous_entry_definitions";
        /// Without TOSCA-Metadata, the root `.mf` does not have the root YAML's base name.
        MANIFEST_NAME_MISMATCH = "package.layout.manifest_name_mismatch";

        /// A TOSCA.meta line is not `Key: value`.
        META_SYNTAX = "package.meta.syntax";
        /// A required TOSCA.meta key is missing from the first block.
        META_MISSING_KEY = "package.meta.missing_key";
        /// TOSCA.meta has no `Entry-Definitions`.
        ENTRY_DEFINITIONS_MISSING = "package.meta.entry_definitions_missing";
        /// `Entry-Definitions` names a file that is not in the package.
        ENTRY_DEFINITIONS_NOT_FOUND = "package.meta.entry_definitions_not_found";
        /// An `ETSI-Entry-*` key names a file or directory that is not in the package.
        META_ENTRY_NOT_FOUND = "package.meta.entry_not_found";
        /// A TOSCA.meta path is absolute or escapes the package.
        META_INVALID_PATH = "package.meta.invalid_path";
        /// A TOSCA.meta key is written in a different case (`Created-by`).
        META_KEY_CASE = "package.meta.key_case";
        /// A TOSCA.meta key is not known.
        META_UNKNOWN_KEY = "package.meta.unknown_key";
        /// A TOSCA.meta key appears twice in a block.
        META_DUPLICATE_KEY = "package.meta.duplicate_key";
        /// `TOSCA-Meta-File-Version` or `CSAR-Version` has an unexpected value.
        META_UNSUPPORTED_VERSION = "package.meta.unsupported_version";
        /// A TOSCA.meta per-file block lacks `Name`, or has `Algorithm` without `Hash` (or the reverse).
        META_BLOCK_INCOMPLETE = "package.meta.block_incomplete";
        /// A TOSCA.meta `Algorithm` is not SHA-224/256/384/512.
        META_UNKNOWN_ALGORITHM = "package.meta.unknown_algorithm";
        /// A TOSCA.meta `Hash` is not hex of the algorithm's length.
        META_MALFORMED_HASH = "package.meta.malformed_hash";
        /// A TOSCA.meta per-file block names a file that is not in the package.
        META_FILE_MISSING = "package.meta.file_missing";
        /// A TOSCA.meta `Hash` does not match the file.
        META_DIGEST_MISMATCH = "package.meta.digest_mismatch";
        /// A TOSCA.meta per-file block names a URL; it is not fetched.
        META_REMOTE_SOURCE = "package.meta.remote_source";

        /// The package has no manifest (`.mf`).
        MANIFEST_MISSING = "package.manifest.missing";
        /// A manifest line cannot be parsed.
        MANIFEST_SYNTAX = "package.manifest.syntax";
        /// The manifest has no `metadata:` block.
        METADATA_MISSING = "package.manifest.metadata_missing";
        /// A required manifest metadata key is missing or empty.
        METADATA_KEY_MISSING = "package.manifest.metadata_key_missing";
        /// A manifest metadata key or top-level key is not known.
        MANIFEST_UNKNOWN_KEY = "package.manifest.unknown_key";
        /// A manifest key appears twice where it may appear once.
        MANIFEST_DUPLICATE_KEY = "package.manifest.duplicate_key";
        /// `vnf_release_date_time` is not an RFC 3339 date-time.
        BAD_RELEASE_DATE_TIME = "package.manifest.bad_release_date_time";
        /// A manifest entry lacks `Source`, or has `Algorithm` without `Hash` (or the reverse).
        ENTRY_INCOMPLETE = "package.manifest.entry_incomplete";
        /// A manifest entry has `Source` only, so the file is not integrity-protected.
        NO_DIGEST = "package.manifest.no_digest";
        /// A manifest `Algorithm` is not SHA-224/256/384/512.
        UNKNOWN_ALGORITHM = "package.manifest.unknown_algorithm";
        /// A manifest `Hash` is not hex of the algorithm's length.
        MALFORMED_HASH = "package.manifest.malformed_hash";
        /// A manifest `Source` names a file that is not in the package.
        FILE_MISSING = "package.manifest.file_missing";
        /// A manifest `Hash` does not match the file.
        DIGEST_MISMATCH = "package.manifest.digest_mismatch";
        /// A manifest `Source` is absolute or escapes the package.
        INVALID_PATH = "package.manifest.invalid_path";
        /// A manifest `Source` is a URL; it is reported, never fetched.
        REMOTE_SOURCE = "package.manifest.remote_source";
        /// A package file is not listed in the manifest.
        UNLISTED_FILE = "package.manifest.unlisted_file";
        /// The same `Source` is listed twice in the manifest.
        DUPLICATE_SOURCE = "package.manifest.duplicate_source";
        /// A `non_mano_artifact_sets` source has no digest entry in the manifest.
        NON_MANO_UNLISTED = "package.manifest.non_mano_unlisted";
        /// The manifest carries a CMS signature, which is not verified.
        SIGNATURE_NOT_VERIFIED = "package.manifest.signature_not_verified";
        /// A listed file could not be read while computing its digest.
        DIGEST_READ_FAILED = "package.digest.read_failed";
    }
}

/// Errors of the archive layer that stop an operation (as opposed to findings).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file or directory could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The path involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A zip archive could not be read or written.
    #[error("{}: {source}", path.display())]
    Zip {
        /// The archive.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: zip::result::ZipError,
    },
    /// The requested package-relative path is not a file of the package.
    #[error("{0}: no such file in the package")]
    NotFound(String),
    /// A package file is not valid UTF-8.
    #[error("{path}: not valid UTF-8 at byte {offset}")]
    NotUtf8 {
        /// Package-relative path.
        path: String,
        /// Byte offset of the first invalid sequence.
        offset: usize,
    },
    /// A file is larger than the configured limit.
    #[error("{path}: {size} bytes exceeds the limit of {limit} bytes")]
    TooLarge {
        /// Package-relative path.
        path: String,
        /// Size in bytes (declared or read so far).
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// The package has error findings, so the operation was refused.
    #[error("{}: the package has {} error(s), first: {}", path.display(), findings.len(),
        findings.first().map(|f| f.to_string()).unwrap_or_default())]
    Invalid {
        /// The package.
        path: PathBuf,
        /// The error findings.
        findings: Vec<crate::diag::Finding>,
    },
}

impl Error {
    /// The stable code of this error.
    pub fn code(&self) -> Code {
        match self {
            Error::Io { .. } => codes::IO,
            Error::Zip { .. } => codes::ZIP,
            Error::NotFound(_) => codes::FILE_NOT_FOUND,
            Error::NotUtf8 { .. } => codes::NOT_UTF8,
            Error::TooLarge { .. } => codes::TOO_LARGE,
            Error::Invalid { .. } => codes::INVALID,
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}

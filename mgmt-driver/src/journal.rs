//! Per VNF instance and operation, the steps already completed, so a failed operation
//! can be re-run and continue where it stopped.
//!
//! File: `<state dir>/<vnf instance id>/<operation>.journal.json`, rewritten atomically
//! after every completed step. On success the journal is renamed to
//! `<operation>.done.json` (a record), so the next run of the operation executes every
//! step again (each remote script is idempotent on its own).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Journal contents.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JournalData {
    /// Always 1.
    pub format_version: u32,
    /// Topology fingerprint of the plan that wrote it.
    pub inventory_fingerprint: String,
    /// Completed step id → step digest ([`crate::plan::Step::digest`]).
    pub completed: BTreeMap<String, String>,
}

/// An open journal.
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    data: JournalData,
}

/// A journal that cannot be read or written.
#[derive(Debug, thiserror::Error)]
#[error("driver.journal.io: journal {}: {message}", path.display())]
pub struct JournalError {
    /// The file.
    pub path: PathBuf,
    /// What failed.
    pub message: String,
}

impl Journal {
    /// Opens (or starts) the journal of `operation` on `vnf_instance_id` under `state_dir`.
    /// A journal from a different topology is discarded (its steps may not hold there).
    pub fn open(
        state_dir: &Path,
        vnf_instance_id: &str,
        operation: &str,
        fingerprint: &str,
    ) -> Result<Journal, JournalError> {
        let dir = state_dir.join(vnf_instance_id);
        let path = dir.join(format!("{operation}.journal.json"));
        let fresh = JournalData {
            format_version: 1,
            inventory_fingerprint: fingerprint.to_string(),
            completed: BTreeMap::new(),
        };
        let data = match std::fs::read(&path) {
            Ok(bytes) => match serde_json::from_slice::<JournalData>(&bytes) {
                Ok(d) if d.inventory_fingerprint == fingerprint => d,
                Ok(_) => fresh,
                Err(e) => {
                    return Err(JournalError {
                        path,
                        message: format!("corrupt ({e}); delete it to start over"),
                    });
                }
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => fresh,
            Err(e) => {
                return Err(JournalError {
                    path,
                    message: e.to_string(),
                });
            }
        };
        Ok(Journal { path, data })
    }

    /// The journal file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// True when `step_id` completed with exactly this digest.
    pub fn is_done(&self, step_id: &str, digest: &str) -> bool {
        self.data
            .completed
            .get(step_id)
            .is_some_and(|d| d == digest)
    }

    /// Number of completed steps recorded.
    pub fn completed(&self) -> usize {
        self.data.completed.len()
    }

    /// Records a completed step and writes the journal.
    pub fn record(&mut self, step_id: &str, digest: &str) -> Result<(), JournalError> {
        self.data
            .completed
            .insert(step_id.to_string(), digest.to_string());
        self.write()
    }

    fn write(&self) -> Result<(), JournalError> {
        let io = |e: std::io::Error| JournalError {
            path: self.path.clone(),
            message: e.to_string(),
        };
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let tmp = self.path.with_extension("json.tmp");
        let json = serde_json::to_vec_pretty(&self.data).unwrap_or_default();
        std::fs::write(&tmp, json).map_err(io)?;
        std::fs::rename(&tmp, &self.path).map_err(io)
    }

    /// Marks the operation finished: the journal becomes `<operation>.done.json`.
    pub fn finish(self) -> Result<(), JournalError> {
        self.write()?;
        let done = self.path.with_file_name(
            self.path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or("operation.journal.json")
                .replace(".journal.json", ".done.json"),
        );
        std::fs::rename(&self.path, &done).map_err(|e| JournalError {
            path: self.path.clone(),
            message: e.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_survive_reopen_and_finish_clears() {
        let d = tempfile::tempdir().expect("tempdir");
        let mut j = Journal::open(d.path(), "vnf1", "instantiate", "fp").expect("open");
        assert!(!j.is_done("a", "x"));
        j.record("a", "x").expect("record");
        let j = Journal::open(d.path(), "vnf1", "instantiate", "fp").expect("reopen");
        assert!(j.is_done("a", "x"));
        assert!(!j.is_done("a", "y"), "a changed step is not done");
        let other = Journal::open(d.path(), "vnf1", "instantiate", "other").expect("open");
        assert_eq!(other.completed(), 0, "another topology starts fresh");
        j.finish().expect("finish");
        assert!(d.path().join("vnf1/instantiate.done.json").exists());
        let j = Journal::open(d.path(), "vnf1", "instantiate", "fp").expect("open");
        assert_eq!(j.completed(), 0);
    }

    #[test]
    fn corrupt_journal_is_an_error_naming_the_file() {
        let d = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(d.path().join("v")).expect("mkdir");
        std::fs::write(d.path().join("v/instantiate.journal.json"), "{").expect("write");
        let e = Journal::open(d.path(), "v", "instantiate", "fp").unwrap_err();
        assert!(e.to_string().contains("instantiate.journal.json"), "{e}");
    }
}

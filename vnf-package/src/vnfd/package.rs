//! Loading a VNFD straight from an opened SOL004 package.

use super::Vnfd;
use super::codes;
use crate::archive::Package;
use crate::diag::{Location, Report};
use crate::tosca::Files;

impl Files for Package {
    fn read_text(&self, rel: &str) -> Result<String, String> {
        Package::read_text(self, rel).map_err(|e| e.to_string())
    }
    fn contains(&self, rel: &str) -> bool {
        Package::contains(self, rel)
    }
}

/// Loads, type-checks and cross-checks the VNFD named by the package's
/// `Entry-Definitions`. Every problem goes to `report`; `None` when there is no entry
/// definitions or no model can be built.
pub fn load(pkg: &Package, report: &mut Report) -> Option<Vnfd> {
    let Some(entry) = pkg.entry_definitions() else {
        report.error(
            codes::NO_ENTRY_DEFINITIONS,
            "the package names no Entry-Definitions; no VNFD can be loaded",
            Location::default(),
        );
        return None;
    };
    let entry = entry.to_owned();
    super::load_files(pkg, &entry, report)
}

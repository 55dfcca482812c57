//! Exit codes, in one place.
//!
//! | command | 0 | 1 | 2 |
//! |---|---|---|---|
//! | `validate` | valid (warnings allowed) | invalid | usage or I/O error |
//! | `pack`, `hot` | done | the input is invalid | usage or I/O error |

use std::process::ExitCode;

/// Success.
pub const SUCCESS: ExitCode = ExitCode::SUCCESS;
/// The input is invalid (findings with severity error).
pub const INVALID: u8 = 1;
/// Usage error or the input could not be read.
pub const USAGE_OR_IO: u8 = 2;

/// Maps an error to its exit code: input defects → 1, everything else → 2.
pub fn code_for_error(err: &anyhow::Error) -> ExitCode {
    if err
        .chain()
        .any(|e| e.downcast_ref::<mgmt_driver::validate::Invalid>().is_some())
    {
        ExitCode::from(INVALID)
    } else {
        ExitCode::from(USAGE_OR_IO)
    }
}

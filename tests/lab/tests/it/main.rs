//! Lab integration tests: they need root and bring up real labs (see the crate README).

mod hosts;
mod nfs;
mod volumes;
mod util;

//! Lab integration tests: they need root and bring up real labs (see the crate README).

mod cli;
mod hosts;
mod nfs;
mod scripts;
mod teardown;
mod util;
mod vip;
mod volumes;

//! Lab integration tests: they need root and bring up real labs (see the crate README).

mod hosts;
mod nfs;
mod teardown;
mod volumes;
mod util;
mod vip;

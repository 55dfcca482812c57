//! mgmt-driver: the VNF LCM management driver.
//!
//! Data flows one way: package → validated model → HOT → discovered topology → plan →
//! executors. Only executors touch the network.

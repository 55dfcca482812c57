//! vnf-lab: brings up a lab of real SSH hosts (network namespaces on a private bridge),
//! loop-device volumes and a userspace NFS server for vnf-mgmt's integration tests.
//!
//! Test infrastructure only; nothing in the product depends on it.

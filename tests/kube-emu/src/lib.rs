//! kube-emu: the subset of the Kubernetes API that vnf-mgmt uses, stored in a real etcd.
//!
//! Test infrastructure only; nothing in the product depends on it.

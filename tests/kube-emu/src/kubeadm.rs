//! `kubeadm` shim.

pub fn main(_args: &[String]) -> i32 {
    eprintln!("kubeadm: not implemented yet");
    1
}

//! kube-emu: Kubernetes API emulator over etcd, and the `kubeadm` / `k3s` node shims.
//!
//! Multi-call: invoked as `kubeadm` or `k3s` (symlink), it behaves as that tool.

use kube_emu::cli::Args;
use std::path::PathBuf;

fn usage() -> ! {
    eprintln!(
        "usage:\n  kube-emu serve --etcd URL[,URL...] --listen IP:PORT --pki-dir DIR [--token-auth-file FILE] [--advertise-address IP] [--ready-file FILE]\n  kube-emu kubeadm ARGS...   (or invoked as `kubeadm`)\n  kube-emu k3s ARGS...       (or invoked as `k3s`)"
    );
    std::process::exit(2)
}

fn main() {
    let argv: Vec<String> = std::env::args().collect();
    let prog = argv
        .first()
        .map(|a| a.rsplit('/').next().unwrap_or(a).to_string())
        .unwrap_or_default();
    let (tool, rest): (&str, &[String]) = match prog.as_str() {
        "kubeadm" | "k3s" => (prog.as_str(), &argv[1..]),
        _ => match argv.get(1).map(String::as_str) {
            Some(t @ ("serve" | "kubeadm" | "k3s")) => (t, &argv[2..]),
            _ => usage(),
        },
    };
    let code = match tool {
        "serve" => run_serve(rest),
        "kubeadm" => kube_emu::kubeadm::main(rest),
        "k3s" => kube_emu::k3s::main(rest),
        _ => usage(),
    };
    std::process::exit(code)
}

fn run_serve(rest: &[String]) -> i32 {
    let args = match Args::parse(rest, &[]) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("kube-emu serve: {e}");
            return 2;
        }
    };
    if let Err(e) = args.check_known(&[
        "etcd",
        "listen",
        "pki-dir",
        "token-auth-file",
        "advertise-address",
        "ready-file",
    ]) {
        eprintln!("kube-emu serve: {e}");
        return 2;
    }
    let (Some(etcd), Some(pki)) = (args.get("etcd"), args.get("pki-dir")) else {
        eprintln!("kube-emu serve: --etcd and --pki-dir are required");
        return 2;
    };
    let opts = kube_emu::ServeOpts {
        etcd: etcd
            .split(',')
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect(),
        listen: args.get("listen").unwrap_or("127.0.0.1:6443").to_string(),
        pki_dir: PathBuf::from(pki),
        token_auth_file: args.get("token-auth-file").map(PathBuf::from),
        advertise_address: args.get("advertise-address").map(String::from),
        ready_file: args.get("ready-file").map(PathBuf::from),
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("kube-emu: runtime: {e}");
            return 1;
        }
    };
    match rt.block_on(kube_emu::serve(opts)) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("kube-emu serve: {e:#}");
            1
        }
    }
}

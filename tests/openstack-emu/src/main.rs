//! `openstack-emu up`: brings up a lab, serves the emulated OpenStack APIs on loopback and
//! prints a `clouds.yaml` document. Runs until SIGINT or SIGTERM; then
//! removes every server and volume and tears the lab down.

use openstack_emu::{Cloud, CloudConfig};

const USAGE: &str = "usage: openstack-emu up [--listen 127.0.0.1:PORT] [--password PW] [--app-cred-secret S]\n                         [--volume-bytes-per-gb BYTES] [--image-user USER] [--image-password PW]\n                         [--shim-dir DIR]... [--clouds-yaml FILE]";

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("up") => std::process::exit(up(&args[1..])),
        Some("-h" | "--help") => println!("{USAGE}"),
        _ => {
            eprintln!("{USAGE}");
            std::process::exit(2)
        }
    }
}

fn up(args: &[String]) -> i32 {
    let mut cfg = CloudConfig::default();
    let mut out_file = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let Some(v) = it.next() else {
            eprintln!("openstack-emu up: {a} needs a value\n{USAGE}");
            return 2;
        };
        let bad = |what: &str| {
            eprintln!("openstack-emu up: bad {what} {v:?}");
            2
        };
        match a.as_str() {
            "--listen" => match v.parse() {
                Ok(x) => cfg.listen = x,
                Err(_) => return bad("--listen"),
            },
            "--password" => cfg.password = v.clone(),
            "--app-cred-secret" => cfg.app_cred_secret = v.clone(),
            "--volume-bytes-per-gb" => match v.parse() {
                Ok(x) => cfg.volume_bytes_per_gb = x,
                Err(_) => return bad("--volume-bytes-per-gb"),
            },
            "--image-user" => cfg.image_user = v.clone(),
            "--image-password" => cfg.image_password = v.clone(),
            "--shim-dir" => cfg.shim_dirs.push(v.into()),
            "--clouds-yaml" => out_file = Some(v.clone()),
            _ => {
                eprintln!("openstack-emu up: unknown option {a}\n{USAGE}");
                return 2;
            }
        }
    }
    let cloud = match Cloud::start(cfg) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("openstack-emu up: {e:#}");
            return 1;
        }
    };
    let yaml = cloud.clouds_yaml();
    if let Some(f) = out_file
        && let Err(e) = std::fs::write(&f, &yaml)
    {
        eprintln!("openstack-emu up: write {f}: {e}");
        return 1;
    }
    print!("{yaml}");
    eprintln!(
        "openstack-emu: serving {} on lab {} ({}); SIGINT/SIGTERM stops it",
        cloud.auth_url(),
        cloud.lab().id(),
        cloud.lab().bridge()
    );
    let (tx2, rx) = std::sync::mpsc::channel::<()>();
    std::thread::spawn(move || {
        if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            rt.block_on(async {
                let Ok(mut term) =
                    tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                else {
                    return;
                };
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            });
        }
        let _ = tx2.send(());
    });
    let _ = rx.recv();
    drop(cloud);
    0
}

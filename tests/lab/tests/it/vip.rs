//! Real keepalived + HAProxy inside hosts: the VIP moves when its master dies.

use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::process::Command;
use std::time::{Duration, Instant};

use vnf_lab::{Lab, LabSpec};

fn keepalived_conf(name: &str, prio: u32, me: Ipv4Addr, peer: Ipv4Addr, vip: Ipv4Addr) -> String {
    format!(
        "global_defs {{\n  router_id {name}\n}}\n\
         vrrp_instance VI_1 {{\n  state BACKUP\n  interface eth0\n  virtual_router_id 51\n  priority {prio}\n  advert_int 1\n\
         \x20 unicast_src_ip {me}\n  unicast_peer {{\n    {peer}\n  }}\n\
         \x20 authentication {{\n    auth_type PASS\n    auth_pass vnflab\n  }}\n\
         \x20 virtual_ipaddress {{\n    {vip}/24 dev eth0\n  }}\n}}\n"
    )
}

const HAPROXY_CFG: &str = "global\n  daemon\n  pidfile /run/haproxy.pid\n\
defaults\n  mode tcp\n  timeout connect 5s\n  timeout client 30s\n  timeout server 30s\n\
frontend api\n  bind *:8443\n  default_backend local\n\
backend local\n  server sshd 127.0.0.1:22\n";

/// Which host's sshd answers on VIP:8443 (through that host's HAProxy): its ed25519 key.
fn key_behind(lab: &Lab, vip: Ipv4Addr) -> Option<String> {
    lab.guard(vip).unwrap();
    let out = Command::new("ssh-keyscan")
        .args(["-T", "3", "-t", "ed25519", "-p", "8443", &vip.to_string()])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().find(|l| !l.starts_with('#'))?;
    let mut f = line.split_whitespace().skip(1);
    Some(format!("{} {}", f.next()?, f.next()?))
}

fn holds_vip(lab: &Lab, host: &str, vip: Ipv4Addr) -> bool {
    lab.exec_ok(host, &["ip", "-4", "-o", "addr", "show", "dev", "eth0"])
        .is_ok_and(|s| s.contains(&format!(" {vip}/")))
}

/// Polls `f` (bounded; this is a wait, not a timing assertion).
fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(40);
    while !f() {
        assert!(Instant::now() < deadline, "gave up waiting for: {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn vip_moves_to_the_backup_master_when_the_master_dies() {
    let lab = Lab::up(LabSpec::builder().host("m1").host("m2").build()).unwrap();
    let (m1, m2) = (lab.host("m1").unwrap(), lab.host("m2").unwrap());
    let vip = lab.reserve_ip().unwrap();
    let pin = |k: &str| k.split_whitespace().take(2).collect::<Vec<_>>().join(" ");

    for (h, prio, me, peer) in [("m1", 150, m1.ip, m2.ip), ("m2", 100, m2.ip, m1.ip)] {
        lab.exec_ok(h, &["mkdir", "-p", "/etc/keepalived", "/etc/haproxy"])
            .unwrap();
        let conf = keepalived_conf(h, prio, me, peer, vip);
        lab.exec_input(
            h,
            &["dd", "of=/etc/keepalived/keepalived.conf", "status=none"],
            conf.as_bytes(),
        )
        .unwrap();
        lab.exec_input(
            h,
            &["dd", "of=/etc/haproxy/haproxy.cfg", "status=none"],
            HAPROXY_CFG.as_bytes(),
        )
        .unwrap();
        lab.exec_ok(
            h,
            &["haproxy", "-c", "-q", "-f", "/etc/haproxy/haproxy.cfg"],
        )
        .unwrap();
        lab.exec_ok(h, &["haproxy", "-f", "/etc/haproxy/haproxy.cfg"])
            .unwrap();
        lab.exec_ok(
            h,
            &[
                "keepalived",
                "-D",
                "-l",
                "-f",
                "/etc/keepalived/keepalived.conf",
                "-p",
                "/run/keepalived.pid",
                "-r",
                "/run/keepalived-vrrp.pid",
            ],
        )
        .unwrap();
    }

    wait_for("VIP on m1 (higher priority)", || holds_vip(&lab, "m1", vip));
    assert!(!holds_vip(&lab, "m2", vip), "VIP on both masters");
    wait_for("m1's HAProxy answering on the VIP", || {
        key_behind(&lab, vip).as_deref() == Some(pin(&m1.host_keys.ed25519).as_str())
    });

    lab.kill_host("m1").unwrap();
    assert!(
        TcpStream::connect_timeout(&SocketAddr::from((m1.ip, 22)), Duration::from_secs(2)).is_err(),
        "dead m1 still answers"
    );

    wait_for("VIP on m2 after m1 died", || holds_vip(&lab, "m2", vip));
    wait_for("m2's HAProxy answering on the VIP", || {
        key_behind(&lab, vip).as_deref() == Some(pin(&m2.host_keys.ed25519).as_str())
    });
}

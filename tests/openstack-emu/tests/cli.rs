//! `openstack-emu up`: prints a clouds.yaml entry that authenticates, stops on SIGTERM and
//! leaves no lab behind. Run as root.

use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};

#[test]
fn up_prints_a_working_clouds_yaml_and_stops_on_sigterm() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_openstack-emu"))
        .args(["up", "--password", "s3cret-pw"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn openstack-emu");
    let mut out = BufReader::new(child.stdout.take().expect("stdout"));
    let mut yaml = String::new();
    let mut seen = 0;
    while seen < 2 {
        let mut line = String::new();
        let n = out.read_line(&mut line).expect("read stdout");
        assert!(n > 0, "stdout ended early: {yaml}");
        if line.contains("identity_api_version") {
            seen += 1;
        }
        yaml.push_str(&line);
    }
    let v: Value = serde_saphyr::from_str(&yaml).expect("clouds.yaml parses");
    let auth = &v["clouds"]["vnf-lab"]["auth"];
    assert_eq!(auth["password"], "s3cret-pw");
    let url = auth["auth_url"].as_str().expect("auth_url").to_string();
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    let r = reqwest::blocking::Client::new()
        .post(format!("{url}/auth/tokens"))
        .json(&json!({"auth": {"identity": {"methods": ["password"], "password": {"user": {
            "name": auth["username"], "domain": {"name": auth["user_domain_name"]}, "password": "s3cret-pw"}}},
            "scope": {"project": {"name": auth["project_name"], "domain": {"name": auth["project_domain_name"]}}}}}))
        .send()
        .expect("auth");
    assert_eq!(r.status(), 201);
    let ac = &v["clouds"]["vnf-lab-appcred"]["auth"];
    let r = reqwest::blocking::Client::new()
        .post(format!("{url}/auth/tokens"))
        .json(&json!({"auth": {"identity": {"methods": ["application_credential"], "application_credential": {
            "id": ac["application_credential_id"], "secret": ac["application_credential_secret"]}}}}))
        .send()
        .expect("auth");
    assert_eq!(r.status(), 201);

    let st = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(st.success());
    let status = child.wait().expect("wait");
    assert!(status.success(), "exit {status}");
    let mut err = String::new();
    if let Some(mut e) = child.stderr.take() {
        e.read_to_string(&mut err).expect("stderr");
    }
    let lab_id = err
        .split("on lab ")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .unwrap_or_else(|| panic!("no lab id in stderr: {err}"));
    assert!(
        !std::path::Path::new("/run/vnf-lab").join(lab_id).exists(),
        "lab {lab_id} left behind"
    );
    assert!(reqwest::blocking::get(&url).is_err(), "still serving");
}

#[test]
fn bad_usage_and_non_loopback_listen_are_refused() {
    let out = Command::new(env!("CARGO_BIN_EXE_openstack-emu"))
        .args(["up", "--listen", "0.0.0.0:1"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1), "non-loopback listen refused");
    assert!(String::from_utf8_lossy(&out.stderr).contains("loopback"));
    let out = Command::new(env!("CARGO_BIN_EXE_openstack-emu"))
        .args(["up", "--bogus", "x"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    let out = Command::new(env!("CARGO_BIN_EXE_openstack-emu"))
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
}

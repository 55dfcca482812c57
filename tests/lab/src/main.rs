//! `vnf-lab`: command-line front end of the test lab.
//!
//! ```text
//! vnf-lab up --spec lab.yaml [--hold]   bring a lab up, print it as JSON
//! vnf-lab status [--lab ID]             JSON of one lab, or of all labs
//! vnf-lab ssh [--lab ID] HOST [CMD..]   log in as the lab user (password login)
//! vnf-lab exec [--lab ID] HOST CMD..    run as root inside the host (nsenter)
//! vnf-lab down [--lab ID | --all-stale]
//! ```
//! Exit codes: 0 ok, 1 failure, 2 usage error.

use std::path::PathBuf;
use std::process::{Command, ExitCode};

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use vnf_lab::{Lab, LabSpec, state};

#[derive(Parser)]
#[command(
    name = "vnf-lab",
    about = "Test lab of real SSH hosts in network namespaces"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Bring a lab up from a YAML/JSON spec and print it as JSON.
    Up {
        /// Spec file.
        #[arg(long)]
        spec: PathBuf,
        /// Stay in the foreground; the lab goes when this process ends (any way).
        #[arg(long)]
        hold: bool,
    },
    /// Print labs as JSON.
    Status {
        /// Only this lab.
        #[arg(long)]
        lab: Option<String>,
    },
    /// SSH into a host as the lab user with its password.
    Ssh {
        /// Lab id (default: the only lab).
        #[arg(long)]
        lab: Option<String>,
        /// Host name.
        host: String,
        /// Remote command.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        cmd: Vec<String>,
    },
    /// Run a command as root inside a host's namespaces.
    Exec {
        /// Lab id (default: the only lab).
        #[arg(long)]
        lab: Option<String>,
        /// Host name.
        host: String,
        /// Command.
        #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
        cmd: Vec<String>,
    },
    /// Tear labs down.
    Down {
        /// This lab (default: the only lab).
        #[arg(long, conflicts_with = "all_stale")]
        lab: Option<String>,
        /// Every lab whose owner and reaper are gone.
        #[arg(long)]
        all_stale: bool,
    },
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("vnf-lab: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn one_lab(lab: Option<String>) -> Result<String> {
    if let Some(l) = lab {
        return Ok(l);
    }
    let labs = state::list_labs();
    match labs.as_slice() {
        [one] => Ok(one.clone()),
        [] => bail!("no lab is running"),
        _ => bail!(
            "several labs are running ({}): pass --lab ID",
            labs.join(", ")
        ),
    }
}

fn print_json<T: serde::Serialize>(v: &T) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
}

fn run(cli: Cli) -> Result<ExitCode> {
    match cli.cmd {
        Cmd::Up { spec, hold } => {
            let spec = LabSpec::from_file(&spec)?;
            let lab = Lab::up(spec)?;
            if hold {
                print_json(&lab.info())?;
                // Until stdin closes or a signal ends us; the reaper cleans up either way.
                let mut sink = String::new();
                while std::io::stdin().read_line(&mut sink)? > 0 {
                    sink.clear();
                }
                lab.down()?;
            } else {
                print_json(&lab.detach())?;
            }
        }
        Cmd::Status { lab } => match lab {
            Some(id) => print_json(&state::read_info(&id)?)?,
            None => {
                let all: Vec<_> = state::list_labs()
                    .iter()
                    .filter_map(|id| state::read_info(id).ok())
                    .collect();
                print_json(&all)?;
            }
        },
        Cmd::Ssh { lab, host, cmd } => {
            let id = one_lab(lab)?;
            let info = state::read_info(&id)?;
            let h = info
                .hosts
                .iter()
                .find(|h| h.name == host)
                .with_context(|| format!("no host {host} in lab {id}"))?;
            // Same guard as the library: only ever connect through the lab bridge.
            let route = Command::new("ip")
                .args(["-o", "route", "get", &h.ip.to_string()])
                .output()?;
            let route = String::from_utf8_lossy(&route.stdout);
            if !route.contains(&format!(" dev {} ", info.bridge)) || route.contains(" via ") {
                bail!(
                    "refusing to connect to {}: route {route:?} is not via the lab bridge",
                    h.ip
                );
            }
            let st = Command::new("ssh")
                .args(["-F", "/dev/null", "-o", "StrictHostKeyChecking=yes", "-o"])
                .arg(format!("UserKnownHostsFile={}", info.known_hosts.display()))
                .args([
                    "-o",
                    "PubkeyAuthentication=no",
                    "-p",
                    &h.ssh_port.to_string(),
                ])
                .env("SSH_ASKPASS", info.state_dir.join("bin/askpass.sh"))
                .env("SSH_ASKPASS_REQUIRE", "force")
                .env("VNF_LAB_PASSWORD", &h.password)
                .arg(format!("{}@{}", h.user, h.ip))
                .args(&cmd)
                .status()?;
            return Ok(ExitCode::from(st.code().unwrap_or(1).clamp(0, 255) as u8));
        }
        Cmd::Exec { lab, host, cmd } => {
            let id = one_lab(lab)?;
            let pid = std::fs::read_to_string(
                state::state_dir(&id).join("hosts").join(&host).join("pid1"),
            )
            .with_context(|| format!("no host {host} in lab {id}"))?;
            let st = Command::new("nsenter")
                .args([
                    "-t",
                    pid.trim(),
                    "-m",
                    "-u",
                    "-i",
                    "-n",
                    "-p",
                    "-r",
                    "-w",
                    "--",
                    "env",
                    "-i",
                ])
                .arg(format!("PATH={}", vnf_lab::HOST_PATH))
                .args(["HOME=/root", "LANG=C.UTF-8"])
                .args(&cmd)
                .status()?;
            return Ok(ExitCode::from(st.code().unwrap_or(1).clamp(0, 255) as u8));
        }
        Cmd::Down { lab, all_stale } => {
            let ids = if all_stale {
                state::sweep_stale()?
            } else {
                let id = one_lab(lab)?;
                if !state::state_dir(&id).exists() {
                    bail!("no lab {id}");
                }
                state::teardown(&id)?;
                vec![id]
            };
            print_json(&serde_json::json!({ "removed": ids }))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

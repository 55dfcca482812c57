//! `vnf-mgmt`: a thin command line over the mgmt-driver library.
//!
//! Results go to stdout, diagnostics to stderr prefixed `vnf-mgmt:`. Exit codes are
//! defined in [`exit`].

mod args;
mod exit;
mod render;

use args::{Cli, Command, Format, HotArgs, PackArgs, ValidateArgs};
use clap::Parser;
use std::io::Write;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.verbose);
    let result = match cli.command {
        Command::Validate(a) => validate(a),
        Command::Pack(a) => pack(a),
        Command::Hot(a) => hot(a),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            if is_broken_pipe(&err) {
                return exit::SUCCESS;
            }
            eprintln!("vnf-mgmt: {}", render::error_chain(&err));
            exit::code_for_error(&err)
        }
    }
}

fn init_logging(verbose: u8) {
    use tracing_subscriber::EnvFilter;
    let default = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        e.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

fn validate(a: ValidateArgs) -> anyhow::Result<ExitCode> {
    let opts = mgmt_driver::validate::Options {
        verify_digests: !a.no_digests,
    };
    let v = mgmt_driver::validate::validate(&a.package, a.request.as_deref(), &opts)?;
    let mut out = std::io::stdout().lock();
    match a.format {
        Format::Text => render::report_text(&mut out, &v, &a.package, a.request.as_deref())?,
        Format::Json => render::report_json(&mut out, &v, &a.package, a.request.as_deref())?,
    }
    out.flush()?;
    Ok(if v.report.ok() {
        exit::SUCCESS
    } else {
        ExitCode::from(exit::INVALID)
    })
}

fn pack(a: PackArgs) -> anyhow::Result<ExitCode> {
    let opts = vnf_package::archive::PackOptions {
        update_in_place: a.in_place,
    };
    let summary = vnf_package::archive::pack(&a.dir, &a.output, &opts)?;
    let mut out = std::io::stdout().lock();
    match a.format {
        Format::Text => render::pack_text(&mut out, &summary, &a.output)?,
        Format::Json => {
            serde_json::to_writer_pretty(&mut out, &render::pack_json(&summary, &a.output))?;
            writeln!(out)?;
        }
    }
    Ok(exit::SUCCESS)
}

fn hot(a: HotArgs) -> anyhow::Result<ExitCode> {
    let bundle = mgmt_driver::hot::generate_for_package(
        &a.package,
        &a.request,
        a.flavour.as_deref(),
        a.level.as_deref(),
    )?;
    let mut out = std::io::stdout().lock();
    if let Some(dir) = &a.out {
        bundle.write_to(dir)?;
        if a.format.is_none() {
            writeln!(out, "wrote {}", dir.join("top.yaml").display())?;
            for key in bundle.files.keys() {
                writeln!(out, "wrote {}", dir.join(key).display())?;
            }
            writeln!(out, "wrote {}", dir.join("parameters.json").display())?;
        }
    }
    match a.format {
        Some(Format::Json) => {
            serde_json::to_writer_pretty(&mut out, &bundle)?;
            writeln!(out)?;
        }
        Some(Format::Text) => {
            writeln!(out, "# top.yaml")?;
            write!(out, "{}", bundle.top_yaml()?)?;
            for (key, tpl) in &bundle.files {
                writeln!(out, "# {key}")?;
                write!(out, "{}", tpl.to_yaml()?)?;
            }
            writeln!(out, "# parameters.json")?;
            serde_json::to_writer_pretty(&mut out, &bundle.parameters)?;
            writeln!(out)?;
        }
        None => {}
    }
    Ok(exit::SUCCESS)
}

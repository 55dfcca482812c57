//! Human and JSON views of results. JSON records carry `format_version` and `type`;
//! the format is documented in `docs/json-output.md`.

use mgmt_driver::validate::Validated;
use serde_json::json;
use std::io::{IsTerminal, Write};
use std::path::Path;
use vnf_package::archive::PackSummary;
use vnf_package::{Finding, Severity};

/// Version of every JSON document this binary prints.
pub const FORMAT_VERSION: u32 = 1;

/// One line: the error and its causes, `: `-separated.
pub fn error_chain(err: &anyhow::Error) -> String {
    let mut s = err.to_string();
    for cause in err.chain().skip(1) {
        let c = cause.to_string();
        if !s.contains(&c) {
            s.push_str(": ");
            s.push_str(&c);
        }
    }
    s
}

fn paint(sev: Severity, color: bool) -> String {
    let name = sev.to_string();
    if !color {
        return name;
    }
    let code = match sev {
        Severity::Error => "1;31",
        Severity::Warning => "1;33",
        Severity::Info => "1;36",
    };
    format!("\x1b[{code}m{name}\x1b[0m")
}

fn finding_line(f: &Finding, color: bool) -> String {
    let sev = paint(f.severity, color);
    if f.location.is_empty() {
        format!("{sev}[{}]: {}", f.code, f.message)
    } else {
        format!("{sev}[{}]: {}: {}", f.code, f.location, f.message)
    }
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("{n} {word}")
    } else {
        format!("{n} {word}s")
    }
}

/// Text report: one line per finding, then a summary line.
pub fn report_text(
    out: &mut impl Write,
    v: &Validated,
    package: &Path,
    request: Option<&Path>,
) -> std::io::Result<()> {
    let color = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    for f in &v.report.findings {
        writeln!(out, "{}", finding_line(f, color))?;
    }
    let errors = v.report.count(Severity::Error);
    let warnings = v.report.count(Severity::Warning);
    let verdict = if v.report.ok() { "valid" } else { "INVALID" };
    let what = match request {
        Some(r) => format!("{} with request {}", package.display(), r.display()),
        None => package.display().to_string(),
    };
    writeln!(
        out,
        "{what}: {verdict} ({}, {})",
        plural(errors, "error"),
        plural(warnings, "warning")
    )?;
    for note in &v.notes {
        writeln!(out, "  {note}")?;
    }
    Ok(())
}

/// JSON report (`type: "validation"`).
pub fn report_json(
    out: &mut impl Write,
    v: &Validated,
    package: &Path,
    request: Option<&Path>,
) -> std::io::Result<()> {
    let doc = json!({
        "format_version": FORMAT_VERSION,
        "type": "validation",
        "package": package.display().to_string(),
        "request": request.map(|r| r.display().to_string()),
        "ok": v.report.ok(),
        "summary": {
            "errors": v.report.count(Severity::Error),
            "warnings": v.report.count(Severity::Warning),
            "infos": v.report.count(Severity::Info),
        },
        "findings": v.report.findings,
        "notes": v.notes,
    });
    serde_json::to_writer_pretty(&mut *out, &doc)?;
    writeln!(out)
}

/// Text summary of `pack`.
pub fn pack_text(out: &mut impl Write, s: &PackSummary, csar: &Path) -> std::io::Result<()> {
    for u in &s.updated {
        writeln!(out, "updated digest: {u}")?;
    }
    for w in &s.warnings {
        writeln!(out, "warning: {w}")?;
    }
    writeln!(
        out,
        "wrote {} ({} files, {} digests refreshed)",
        csar.display(),
        s.files,
        s.updated.len()
    )
}

/// JSON summary of `pack` (`type: "pack"`).
pub fn pack_json(s: &PackSummary, csar: &Path) -> serde_json::Value {
    json!({
        "format_version": FORMAT_VERSION,
        "type": "pack",
        "output": csar.display().to_string(),
        "files": s.files,
        "updated": s.updated,
        "warnings": s.warnings,
    })
}

//! Structured execution events: JSON lines for tools, progress lines for humans.

use serde::Serialize;
use std::io::Write;
use std::sync::Mutex;

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Connecting and authenticating to a host.
    Connect,
    /// A step starts.
    Start,
    /// A step ended (see outcome).
    End,
    /// A step was skipped: the journal says it is done and its result still holds.
    Skip,
    /// A transport error; the step is retried after a backoff.
    Retry,
    /// A host key was trusted on first use and recorded.
    TrustOnFirstUse,
    /// The operation ended (see outcome).
    Operation,
}

/// How it ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Succeeded.
    Ok,
    /// Failed.
    Failed,
    /// Skipped.
    Skipped,
    /// Cancelled before it ran.
    Cancelled,
}

/// One event. Messages are already redacted.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Event {
    /// Always `"event"`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// Milliseconds since the Unix epoch.
    pub ts_ms: u64,
    /// Operation name.
    pub operation: String,
    /// VNF instance id.
    pub vnf_instance_id: String,
    /// Host, when host-specific.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// Step id, when step-specific.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub step: Option<String>,
    /// What happened.
    pub phase: Phase,
    /// Duration in milliseconds, on end events.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
    /// Outcome, on end events.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<Outcome>,
    /// Details (error message, exit status, recorded key, …), redacted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// Receives events. Implementations must be cheap and never fail the operation.
pub trait EventSink: Send + Sync {
    /// Handles one event.
    fn emit(&self, event: &Event);
}

/// Discards events.
#[derive(Debug, Default)]
pub struct NoEvents;

impl EventSink for NoEvents {
    fn emit(&self, _: &Event) {}
}

/// Writes each event as one JSON line (flushes after each).
pub struct JsonLines<W: Write + Send>(Mutex<W>);

impl<W: Write + Send> JsonLines<W> {
    /// Wraps a writer.
    pub fn new(w: W) -> Self {
        JsonLines(Mutex::new(w))
    }
}

impl<W: Write + Send> EventSink for JsonLines<W> {
    fn emit(&self, event: &Event) {
        if let Ok(mut w) = self.0.lock()
            && let Ok(line) = serde_json::to_string(event)
        {
            let _ = writeln!(w, "{line}");
            let _ = w.flush();
        }
    }
}

/// Keeps every event in memory (tests, bindings).
#[derive(Debug, Default)]
pub struct Recorder(Mutex<Vec<Event>>);

impl Recorder {
    /// The events so far.
    pub fn events(&self) -> Vec<Event> {
        self.0.lock().map(|v| v.clone()).unwrap_or_default()
    }
}

impl EventSink for Recorder {
    fn emit(&self, event: &Event) {
        if let Ok(mut v) = self.0.lock() {
            v.push(event.clone());
        }
    }
}

/// Sends each event to several sinks.
pub struct Fanout(pub Vec<Box<dyn EventSink>>);

impl EventSink for Fanout {
    fn emit(&self, event: &Event) {
        for s in &self.0 {
            s.emit(event);
        }
    }
}

/// Human progress: one line per host connection, step end, skip and retry.
pub fn progress_line(e: &Event) -> Option<String> {
    let host = e.host.as_deref().unwrap_or("-");
    let step = e.step.as_deref().unwrap_or("");
    let dur = e
        .duration_ms
        .map(|d| format!(" ({:.1} s)", d as f64 / 1000.0))
        .unwrap_or_default();
    let msg = e
        .message
        .as_deref()
        .map(|m| format!(": {m}"))
        .unwrap_or_default();
    match (e.phase, e.outcome) {
        (Phase::Connect, Some(Outcome::Ok)) => Some(format!("[{host}] connected{dur}")),
        (Phase::Connect, _) => Some(format!("[{host}] connection failed{msg}")),
        (Phase::End, Some(Outcome::Ok)) => Some(format!("[{host}] {step} ok{dur}")),
        (Phase::End, _) => Some(format!("[{host}] {step} FAILED{dur}{msg}")),
        (Phase::Skip, _) => Some(format!("[{host}] {step} already done, skipped")),
        (Phase::Retry, _) => Some(format!("[{host}] {step} retrying{msg}")),
        (Phase::TrustOnFirstUse, _) => Some(format!("[{host}] trusted host key on first use{msg}")),
        (Phase::Operation, Some(Outcome::Ok)) => Some(format!("{} done{dur}", e.operation)),
        (Phase::Operation, _) => Some(format!("{} failed{dur}", e.operation)),
        (Phase::Start, _) => None,
    }
}

/// Current time in milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

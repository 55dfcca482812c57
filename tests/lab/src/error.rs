//! The lab's one error type.

/// Everything that can go wrong bringing up, using or tearing down a lab.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The spec (or an API argument) is invalid.
    #[error("invalid lab spec: {0}")]
    Spec(String),
    /// A file or process operation failed.
    #[error("{what}")]
    Io {
        /// The step that failed.
        what: String,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// A helper command exited non-zero.
    #[error("{what}: `{cmd}` exited with {status}: {stderr}")]
    Command {
        /// The step that failed.
        what: String,
        /// Command line.
        cmd: String,
        /// Exit status.
        status: String,
        /// Its stderr (trimmed).
        stderr: String,
    },
    /// A host did not come up.
    #[error("host {host} did not come up: {reason}; log tail:\n{log}")]
    HostStart {
        /// Host name.
        host: String,
        /// Why.
        reason: String,
        /// Last lines of the host's log.
        log: String,
    },
    /// Unknown host or volume, or one in the wrong state.
    #[error("{0}")]
    NotFound(String),
    /// The operation conflicts with the lab's current state.
    #[error("{0}")]
    Conflict(String),
    /// Safety guard: an address is not routed through the lab bridge.
    #[error("refusing to contact {ip}: route goes via {route:?}, not the lab bridge {bridge}")]
    NotOnLab {
        /// Address.
        ip: std::net::Ipv4Addr,
        /// `ip route get` output.
        route: String,
        /// Expected bridge.
        bridge: String,
    },
    /// The machine has no free lab subnet or cannot host a lab.
    #[error("environment: {0}")]
    Environment(String),
}

/// Result with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
        let what = what.into();
        move |source| Error::Io { what, source }
    }
}

"""The exception hierarchy of ``vnf_mgmt``.

Every exception derives from :class:`Error` and carries ``.code``: the same stable,
dotted code the ``vnf-mgmt`` CLI prints (``driver.ssh.auth_failed``, ``hot.flavour.unknown``,
…). Messages may be reworded between releases; codes do not change meaning.

Paths that cannot be read raise the built-in ``OSError`` subclasses (``FileNotFoundError``,
``PermissionError``), not these classes.

The compiled module picks the class from the code (one conversion function in Rust).
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence

from ._types import Finding, Report

__all__ = [
    "Error",
    "ValidationError",
    "HotGenerationError",
    "DiscoveryError",
    "PlanError",
    "ExecutionError",
    "RemoteCommandError",
    "AuthenticationError",
    "HostKeyMismatch",
    "Timeout",
    "PersistentVolumeInUse",
    "Cancelled",
    "NotImplementedOperation",
]


class Error(Exception):
    """Base class of every vnf_mgmt error. ``.code`` is the stable code."""

    default_code = "driver.error"

    def __init__(self, message: str, *, code: Optional[str] = None, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.code: str = code or self.default_code
        self.details: Dict[str, Any] = details

    def __str__(self) -> str:
        if self.message.startswith(self.code + ":"):
            return self.message
        return f"{self.code}: {self.message}"


class ValidationError(Error, ValueError):
    """The package or request is invalid; ``.report`` / ``.findings`` say why.

    ``.code`` is ``driver.input.invalid``; each finding has its own code.
    """

    default_code = "driver.input.invalid"

    def __init__(self, message: str, *, code: Optional[str] = None,
                 report: Any = None, **details: Any) -> None:
        super().__init__(message, code=code, **details)
        if isinstance(report, Report):
            self.report = report
        elif isinstance(report, dict):
            self.report = Report.from_dict(report)
        else:
            self.report = Report([])

    @property
    def findings(self) -> List[Finding]:
        """Every finding (errors, warnings, infos)."""
        return self.report.findings

    @property
    def error_codes(self) -> List[str]:
        """Distinct codes of the error findings, sorted."""
        return sorted({f.code for f in self.report.errors})

    #: At most this many error findings appear in ``str()``; ``.findings`` has all.
    max_listed = 20

    def __str__(self) -> str:
        errors = self.report.errors
        lines = [super().__str__()] + [f"  {f}" for f in errors[: self.max_listed]]
        if len(errors) > self.max_listed:
            lines.append(f"  … and {len(errors) - self.max_listed} more error(s)")
        return "\n".join(lines)


class HotGenerationError(Error):
    """The HOT bundle cannot be generated (codes ``hot.*``)."""

    default_code = "hot.error"


class DiscoveryError(Error):
    """The topology cannot be discovered or loaded (codes ``driver.inventory.*``,
    ``driver.discovery.*``)."""

    default_code = "driver.discovery.failed"


class PlanError(Error):
    """No plan could be made (codes ``driver.plan.*``)."""

    default_code = "driver.plan.failed"


class ExecutionError(Error):
    """A step failed while running a plan (codes ``driver.ssh.*``, ``driver.step.*``,
    ``driver.exec.*``, ``driver.kube.*``, ``driver.journal.*``).

    ``.host``, ``.step``, ``.exit_status`` and ``.output_tail`` are set when known.
    """

    default_code = "driver.exec.failed"

    def __init__(self, message: str, *, code: Optional[str] = None, host: Optional[str] = None,
                 step: Optional[str] = None, exit_status: Optional[int] = None,
                 output_tail: Optional[Sequence[str]] = None, **details: Any) -> None:
        super().__init__(message, code=code, **details)
        self.host = host
        self.step = step
        self.exit_status = exit_status
        self.output_tail: List[str] = list(output_tail or [])


class RemoteCommandError(ExecutionError):
    """A remote command exited non-zero (``driver.step.failed``) or sudo failed."""

    default_code = "driver.step.failed"


class AuthenticationError(ExecutionError):
    """The host rejected the SSH credentials (``driver.ssh.auth_failed``)."""

    default_code = "driver.ssh.auth_failed"


class HostKeyMismatch(ExecutionError):
    """The host key differs from the pinned/known one, or is unknown without TOFU
    (``driver.ssh.host_key_mismatch``, ``driver.ssh.host_key_unknown``). Nothing was done."""

    default_code = "driver.ssh.host_key_mismatch"


class Timeout(ExecutionError, TimeoutError):
    """A step or Kubernetes wait exceeded its timeout (``driver.step.timeout``,
    ``driver.kube.timeout``)."""

    default_code = "driver.step.timeout"


class PersistentVolumeInUse(ExecutionError):
    """PersistentVolumes of the storage server are still bound (``driver.kube.pv_in_use``).

    ``.volumes`` and ``.claims`` name them.
    """

    default_code = "driver.kube.pv_in_use"

    def __init__(self, message: str, *, code: Optional[str] = None,
                 volumes: Optional[Sequence[str]] = None,
                 claims: Optional[Sequence[str]] = None, **details: Any) -> None:
        super().__init__(message, code=code, **details)
        self.volumes: List[str] = list(volumes or [])
        self.claims: List[str] = list(claims or [])


class Cancelled(ExecutionError):
    """The operation was cancelled; steps not yet started did not run
    (``driver.exec.cancelled``)."""

    default_code = "driver.exec.cancelled"


class NotImplementedOperation(Error, NotImplementedError):
    """The engine does not implement this operation yet
    (``driver.operation.not_implemented``). Nothing was done."""

    default_code = "driver.operation.not_implemented"

    def __init__(self, operation: str, *, code: Optional[str] = None, **details: Any) -> None:
        super().__init__(f"{operation} is not implemented by vnf-mgmt yet; nothing was done",
                         code=code, **details)
        self.operation = operation

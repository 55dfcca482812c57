"""Typed views of the values the compiled module returns (plain dicts)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Union

__all__ = ["Location", "Finding", "Report", "HotBundle", "Plan"]

PathLike = Union[str, "os.PathLike[str]"]


@dataclass(frozen=True)
class Location:
    """Where a finding is; every field is optional."""

    file: Optional[str] = None
    """Package-relative path, or a request path as given."""
    line: Optional[int] = None
    """1-based line."""
    column: Optional[int] = None
    """1-based column."""
    pointer: Optional[str] = None
    """JSON pointer / YAML path."""

    @classmethod
    def from_dict(cls, d: Dict[str, Any]) -> "Location":
        return cls(d.get("file"), d.get("line"), d.get("column"), d.get("pointer"))

    def to_dict(self) -> Dict[str, Any]:
        """The same shape as the CLI's JSON (absent fields are omitted)."""
        return {k: v for k, v in (("file", self.file), ("line", self.line),
                                  ("column", self.column), ("pointer", self.pointer))
                if v is not None}

    def __str__(self) -> str:
        s = self.file or ""
        if self.file and self.line is not None:
            s += f":{self.line}"
            if self.column is not None:
                s += f":{self.column}"
        if self.pointer:
            s += (" " if s else "") + f"at {self.pointer}"
        return s


@dataclass(frozen=True)
class Finding:
    """One problem found in a package or request."""

    code: str
    """Stable dotted code, e.g. ``request.flavour.unknown``."""
    severity: str
    """``error``, ``warning`` or ``info``."""
    message: str
    """Human-readable; may be reworded between releases."""
    location: Location = field(default_factory=Location)

    @classmethod
    def from_dict(cls, d: Dict[str, Any]) -> "Finding":
        return cls(d["code"], d["severity"], d["message"], Location.from_dict(d.get("location") or {}))

    def to_dict(self) -> Dict[str, Any]:
        return {"code": self.code, "severity": self.severity, "message": self.message,
                "location": self.location.to_dict()}

    def __str__(self) -> str:
        loc = str(self.location)
        return f"{self.severity}[{self.code}]: {loc + ': ' if loc else ''}{self.message}"


@dataclass(frozen=True)
class Report:
    """Every finding of one validation run, in the order found."""

    findings: List[Finding]
    notes: List[str] = field(default_factory=list)
    """What was not checked (e.g. digests skipped)."""

    @classmethod
    def from_dict(cls, d: Dict[str, Any]) -> "Report":
        return cls([Finding.from_dict(f) for f in d.get("findings", [])], list(d.get("notes", [])))

    @property
    def ok(self) -> bool:
        """True when there is no error (warnings and infos are allowed)."""
        return not any(f.severity == "error" for f in self.findings)

    @property
    def errors(self) -> List[Finding]:
        """The error findings."""
        return [f for f in self.findings if f.severity == "error"]

    def codes(self) -> List[str]:
        """Distinct codes of all findings, sorted."""
        return sorted({f.code for f in self.findings})

    def to_dict(self) -> Dict[str, Any]:
        """The same shape as ``vnf-mgmt validate --format json`` findings, plus ``ok``."""
        return {"ok": self.ok, "findings": [f.to_dict() for f in self.findings],
                "notes": list(self.notes)}

    def __bool__(self) -> bool:
        return self.ok

    def __str__(self) -> str:
        return "\n".join(str(f) for f in self.findings) or "no findings"


@dataclass(frozen=True)
class HotBundle:
    """A generated Heat bundle: top template, nested templates, stack parameters."""

    top: str
    """The top template as YAML."""
    files: Dict[str, str]
    """Nested templates as YAML, keyed as the top template's resources reference them."""
    parameters: Dict[str, Any]
    """Stack parameter values (``{"nfv": {...}}``)."""

    @classmethod
    def from_dict(cls, d: Dict[str, Any]) -> "HotBundle":
        return cls(d["top"], dict(d["files"]), dict(d["parameters"]))

    def to_dict(self) -> Dict[str, Any]:
        return {"top": self.top, "files": dict(self.files), "parameters": self.parameters}

    def write(self, directory: PathLike) -> Path:
        """Writes ``top.yaml``, the nested files and ``parameters.json`` (as ``vnf-mgmt hot -o``).

        Returns the path of ``top.yaml``. Refuses nested keys that would escape ``directory``.
        """
        root = Path(directory)
        root.mkdir(parents=True, exist_ok=True)
        top = root / "top.yaml"
        top.write_text(self.top, encoding="utf-8")
        for key, text in self.files.items():
            rel = Path(key)
            if rel.is_absolute() or any(p in ("..", "") for p in rel.parts):
                raise ValueError(f"nested file key {key!r} must be a relative path without '..'")
            path = root / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        (root / "parameters.json").write_text(
            json.dumps(self.parameters, indent=2) + "\n", encoding="utf-8")
        return top


@dataclass(frozen=True)
class Plan:
    """A plan: plain data (no secrets) that an executor would run."""

    data: Dict[str, Any]
    """The plan as ``vnf-mgmt plan --format json`` prints it."""
    text: str
    """Human-readable listing."""

    @property
    def operation(self) -> str:
        return str(self.data.get("operation"))

    @property
    def steps(self) -> List[Dict[str, Any]]:
        return list(self.data.get("steps", []))

    @property
    def hosts(self) -> List[Dict[str, Any]]:
        return list(self.data.get("hosts", []))

    def to_dict(self) -> Dict[str, Any]:
        return self.data

    def __str__(self) -> str:
        return self.text

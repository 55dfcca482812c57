//! [`Template`] (one HOT document) and [`HotBundle`] (top template, nested files and
//! parameter values).

use crate::error::HotError;
use indexmap::IndexMap;
use serde::Serialize;
use serde_json::{Map, Value};
use std::path::{Component, Path};

/// The HOT version emitted by the generator: the oldest that supports everything it uses
/// (`get_param` / `get_attr` with paths, AutoScalingGroup, ServerGroup), and the one
/// Tacker's sample BaseHOTs use.
pub const HEAT_TEMPLATE_VERSION: &str = "2013-05-23";

/// File name of the top template when a bundle is written to disk.
pub const TOP_FILE: &str = "top.yaml";

/// File name of the parameter values when a bundle is written to disk.
pub const PARAMETERS_FILE: &str = "parameters.json";

/// One Heat Orchestration Template, as an ordered JSON value (map order is emission order).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(transparent)]
pub struct Template(pub Value);

impl Template {
    /// Parses YAML text (e.g. a hand-written BaseHOT). The error names `file`, line and
    /// column.
    pub fn from_yaml(file: &str, text: &str) -> Result<Template, YamlError> {
        match serde_saphyr::from_str::<Value>(text) {
            Ok(v) => Ok(Template(v)),
            Err(e) => {
                let (line, column) = e
                    .location()
                    .map(|l| (u32::try_from(l.line()).ok(), u32::try_from(l.column()).ok()))
                    .unwrap_or((None, None));
                let message = e.to_string().lines().next().unwrap_or("").to_string();
                Err(YamlError {
                    file: file.to_string(),
                    line,
                    column,
                    message,
                })
            }
        }
    }

    /// The template as YAML. Heat reads templates with PyYAML (YAML 1.1); the emitter quotes
    /// strings such as `yes`/`on` that YAML 1.1 would read as booleans.
    pub fn to_yaml(&self) -> Result<String, HotError> {
        serde_saphyr::to_string(&self.0).map_err(|e| HotError::YamlEmit {
            template: "template".into(),
            message: e.to_string(),
        })
    }

    /// The underlying value.
    pub fn as_value(&self) -> &Value {
        &self.0
    }

    /// The `resources` section, if it is a mapping.
    pub fn resources(&self) -> Option<&Map<String, Value>> {
        self.0.get("resources").and_then(Value::as_object)
    }

    /// The resource with this name.
    pub fn resource(&self, name: &str) -> Option<&Value> {
        self.resources().and_then(|r| r.get(name))
    }

    /// The `type` of the named resource.
    pub fn resource_type(&self, name: &str) -> Option<&str> {
        self.resource(name)
            .and_then(|r| r.get("type"))
            .and_then(Value::as_str)
    }

    /// The `parameters` section, if it is a mapping.
    pub fn parameters(&self) -> Option<&Map<String, Value>> {
        self.0.get("parameters").and_then(Value::as_object)
    }

    /// Names of the resources of this `type`, in template order.
    pub fn resources_of_type<'a>(&'a self, ty: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.resources()
            .into_iter()
            .flat_map(|m| m.iter())
            .filter(move |(_, r)| r.get("type").and_then(Value::as_str) == Some(ty))
            .map(|(k, _)| k.as_str())
    }
}

/// A YAML parse error with its position.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}: {message}")]
pub struct YamlError {
    /// File name as given.
    pub file: String,
    /// 1-based line, when known.
    pub line: Option<u32>,
    /// 1-based column, when known.
    pub column: Option<u32>,
    /// Parser message (first line).
    pub message: String,
}

/// Everything Heat needs to create the stack: the top template, the nested templates keyed
/// exactly as the AutoScalingGroups' `resource.type` names them (`nested/<aspect>.yaml`),
/// and the parameter values (`{"nfv": {...}}`).
///
/// Serialises (for `--format json`) as `{"top": …, "files": {…}, "parameters": {…}}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HotBundle {
    /// The top template.
    pub top: Template,
    /// Nested templates keyed by the string the using resource's `type` holds.
    pub files: IndexMap<String, Template>,
    /// Stack parameter values.
    pub parameters: Map<String, Value>,
}

impl HotBundle {
    /// The top template as YAML.
    pub fn top_yaml(&self) -> Result<String, HotError> {
        self.top.to_yaml().map_err(|e| rename(e, TOP_FILE))
    }

    /// Writes `top.yaml`, every nested file at its key (relative to `dir`, e.g.
    /// `nested/worker_instance.yaml`) and `parameters.json`. Heat's client resolves the
    /// ASG's `type: nested/<aspect>.yaml` relative to `top.yaml`, so
    /// `openstack stack create -t DIR/top.yaml` finds the nested files.
    pub fn write_to(&self, dir: &Path) -> Result<(), HotError> {
        let io = |path: &Path, source| HotError::Io {
            path: path.display().to_string(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
        let top = dir.join(TOP_FILE);
        std::fs::write(&top, self.top_yaml()?).map_err(|e| io(&top, e))?;
        for (key, tpl) in &self.files {
            let rel = Path::new(key);
            if rel.components().any(|c| !matches!(c, Component::Normal(_))) {
                return Err(io(
                    rel,
                    std::io::Error::new(
                        std::io::ErrorKind::InvalidInput,
                        "nested file key must be a relative path without `..`",
                    ),
                ));
            }
            let path = dir.join(rel);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(|e| io(parent, e))?;
            }
            let yaml = tpl.to_yaml().map_err(|e| rename(e, key))?;
            std::fs::write(&path, yaml).map_err(|e| io(&path, e))?;
        }
        let params = dir.join(PARAMETERS_FILE);
        let mut text =
            serde_json::to_string_pretty(&self.parameters).map_err(|e| HotError::YamlEmit {
                template: PARAMETERS_FILE.into(),
                message: e.to_string(),
            })?;
        text.push('\n');
        std::fs::write(&params, text).map_err(|e| io(&params, e))?;
        Ok(())
    }
}

fn rename(e: HotError, name: &str) -> HotError {
    match e {
        HotError::YamlEmit { message, .. } => HotError::YamlEmit {
            template: name.to_string(),
            message,
        },
        other => other,
    }
}

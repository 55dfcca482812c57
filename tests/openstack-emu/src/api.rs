//! HTTP front end: Keystone v3, Heat v1, and the Nova / Neutron / Cinder reads.

use crate::engine::Emu;
use crate::model::{Stack, Token};
use crate::template;
use crate::util::{self, iso};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;

/// A response before it becomes a hyper response.
pub(crate) struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Option<Value>,
}

impl Resp {
    fn json(status: u16, body: Value) -> Resp {
        Resp {
            status,
            headers: vec![],
            body: Some(body),
        }
    }
    fn empty(status: u16) -> Resp {
        Resp {
            status,
            headers: vec![],
            body: None,
        }
    }
    fn header(mut self, k: &str, v: impl Into<String>) -> Resp {
        self.headers.push((k.to_string(), v.into()));
        self
    }
}

/// One request, decoded.
pub(crate) struct Req {
    pub method: String,
    pub path: String,
    pub query: BTreeMap<String, String>,
    pub headers: BTreeMap<String, String>,
    pub body: Vec<u8>,
}

impl Req {
    fn header(&self, k: &str) -> Option<&str> {
        self.headers
            .get(&k.to_ascii_lowercase())
            .map(String::as_str)
    }
    fn json(&self) -> Result<Value, String> {
        if self.body.is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_slice(&self.body).map_err(|e| format!("Malformed request body: {e}"))
    }
}

fn title(code: u16) -> &'static str {
    match code {
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        409 => "Conflict",
        _ => "Error",
    }
}

fn keystone_error(code: u16, message: &str) -> Resp {
    Resp::json(
        code,
        json!({"error": {"code": code, "message": message, "title": title(code)}}),
    )
}

fn heat_error(code: u16, kind: &str, message: &str) -> Resp {
    let explanation = match code {
        400 => {
            "The server could not comply with the request since it is either malformed or otherwise incorrect."
        }
        404 => "The resource could not be found.",
        409 => "There was a conflict when trying to complete your request.",
        _ => "",
    };
    Resp::json(
        code,
        json!({"code": code, "title": title(code), "explanation": explanation,
               "error": {"type": kind, "message": message, "traceback": null}}),
    )
}

fn nova_error(code: u16, message: &str) -> Resp {
    let key = match code {
        400 => "badRequest",
        404 => "itemNotFound",
        409 => "conflictingRequest",
        406 => "computeFault",
        _ => "computeFault",
    };
    Resp::json(code, json!({key: {"code": code, "message": message}}))
}

fn neutron_error(code: u16, kind: &str, message: &str) -> Resp {
    Resp::json(
        code,
        json!({"NeutronError": {"type": kind, "message": message, "detail": ""}}),
    )
}

impl Emu {
    fn auth_url(&self) -> String {
        format!("{}/identity/v3", self.base)
    }

    fn unauthorized(&self) -> Resp {
        keystone_error(401, "The request you have made requires authentication.").header(
            "WWW-Authenticate",
            format!("Keystone uri=\"{}\"", self.auth_url()),
        )
    }

    /// Checks `X-Auth-Token`; returns the token's project.
    fn check_token(&self, req: &Req) -> Result<Option<String>, Resp> {
        let Some(tok) = req.header("x-auth-token") else {
            return Err(self.unauthorized());
        };
        let m = self.m();
        match m.tokens.get(tok) {
            Some(t) if t.expires > util::now() => Ok(t.project_id.clone()),
            _ => Err(self.unauthorized()),
        }
    }

    /// Routes one request.
    pub(crate) fn handle(self: &Arc<Self>, req: Req) -> Resp {
        let resp = self.route(&req);
        resp.header("x-openstack-request-id", format!("req-{}", util::uuid4()))
    }

    fn route(self: &Arc<Self>, req: &Req) -> Resp {
        let segs: Vec<&str> = req
            .path
            .trim_matches('/')
            .split('/')
            .filter(|s| !s.is_empty())
            .collect();
        match segs.first().copied() {
            Some("identity") => self.keystone(req, &segs[1..]),
            Some("heat-api") => match self.check_token(req) {
                Err(r) => r,
                Ok(p) => self.heat(req, &segs[1..], p),
            },
            Some("compute") => match self.check_token(req) {
                Err(r) => r,
                Ok(_) => self.nova(req, &segs[1..]),
            },
            Some("networking") => match self.check_token(req) {
                Err(r) => r,
                Ok(_) => self.neutron(req, &segs[1..]),
            },
            Some("volume") => match self.check_token(req) {
                Err(r) => r,
                Ok(p) => self.cinder(req, &segs[1..], p),
            },
            _ => Resp::json(
                404,
                json!({"error": {"code": 404, "message": format!("no service at {}", req.path), "title": "Not Found"}}),
            ),
        }
    }

    // ------------------------------------------------------------------ keystone

    fn catalog(&self) -> Value {
        let ep = |ty: &str, name: &str, url: String| {
            json!({"id": util::hex_id(), "type": ty, "name": name, "endpoints": [
                {"id": util::hex_id(), "interface": "public", "region": self.cfg.region, "region_id": self.cfg.region, "url": url},
                {"id": util::hex_id(), "interface": "internal", "region": self.cfg.region, "region_id": self.cfg.region, "url": url},
            ]})
        };
        json!([
            ep("identity", "keystone", format!("{}/identity", self.base)),
            ep(
                "orchestration",
                "heat",
                format!("{}/heat-api/v1/{}", self.base, self.project_id)
            ),
            ep("compute", "nova", format!("{}/compute/v2.1", self.base)),
            ep("network", "neutron", format!("{}/networking", self.base)),
            ep(
                "volumev3",
                "cinderv3",
                format!("{}/volume/v3/{}", self.base, self.project_id)
            ),
            ep(
                "block-storage",
                "cinder",
                format!("{}/volume/v3/{}", self.base, self.project_id)
            ),
        ])
    }

    fn keystone(&self, req: &Req, segs: &[&str]) -> Resp {
        match (req.method.as_str(), segs) {
            ("GET", []) => Resp::json(300, json!({"versions": {"values": [self.version_doc()]}})),
            ("GET", ["v3"]) => Resp::json(200, json!({"version": self.version_doc()})),
            ("POST", ["v3", "auth", "tokens"]) => self.issue_token(req),
            ("GET", ["v3", "auth", "tokens"]) | ("HEAD", ["v3", "auth", "tokens"]) => {
                if self.check_token(req).is_err() {
                    return self.unauthorized();
                }
                let subject = req.header("x-subject-token").unwrap_or("");
                let m = self.m();
                match m.tokens.get(subject) {
                    Some(t) if t.expires > util::now() => {
                        Resp::json(200, t.body.clone()).header("X-Subject-Token", subject)
                    }
                    _ => keystone_error(404, &format!("Could not find token: {subject}.")),
                }
            }
            ("DELETE", ["v3", "auth", "tokens"]) => {
                if self.check_token(req).is_err() {
                    return self.unauthorized();
                }
                let subject = req.header("x-subject-token").unwrap_or("").to_string();
                match self.m().tokens.remove(&subject) {
                    Some(_) => Resp::empty(204),
                    None => keystone_error(404, &format!("Could not find token: {subject}.")),
                }
            }
            _ => keystone_error(404, "The resource could not be found."),
        }
    }

    fn version_doc(&self) -> Value {
        json!({"id": "v3.14", "status": "stable", "updated": "2020-04-07T00:00:00Z",
               "links": [{"rel": "self", "href": format!("{}/", self.auth_url())}],
               "media-types": [{"base": "application/json", "type": "application/vnd.openstack.identity-v3+json"}]})
    }

    fn issue_token(&self, req: &Req) -> Resp {
        let body = match req.json() {
            Ok(b) => b,
            Err(e) => return keystone_error(400, &e),
        };
        let Some(ident) = body.pointer("/auth/identity") else {
            return keystone_error(
                400,
                "Invalid input for field 'identity': 'identity' is a required property",
            );
        };
        let methods: Vec<String> = ident
            .get("methods")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(String::from)
                    .collect()
            })
            .unwrap_or_default();
        let c = &self.cfg;
        let domain = json!({"id": c.domain_id, "name": c.domain_name});
        let domain_ok = |d: Option<&Value>| match d {
            Some(d) => {
                d.get("id").and_then(Value::as_str) == Some(&c.domain_id)
                    || d.get("name").and_then(Value::as_str) == Some(&c.domain_name)
            }
            None => false,
        };
        let mut app_cred = None;
        if methods.as_slice() == ["password"] {
            let Some(u) = ident.pointer("/password/user") else {
                return keystone_error(
                    400,
                    "Invalid input for field 'identity/password/user': 'user' is a required property",
                );
            };
            let who = match (
                u.get("id").and_then(Value::as_str),
                u.get("name").and_then(Value::as_str),
            ) {
                (Some(id), _) => id == self.user_id,
                (None, Some(name)) => name == c.username && domain_ok(u.get("domain")),
                _ => return keystone_error(400, "Expecting to find id or name in user"),
            };
            if !who || u.get("password").and_then(Value::as_str) != Some(&c.password) {
                return keystone_error(401, "The request you have made requires authentication.");
            }
        } else if methods.as_slice() == ["application_credential"] {
            let Some(a) = ident.get("application_credential") else {
                return keystone_error(
                    400,
                    "Invalid input for field 'identity/application_credential'",
                );
            };
            let who = match (
                a.get("id").and_then(Value::as_str),
                a.get("name").and_then(Value::as_str),
            ) {
                (Some(id), _) => id == self.app_cred_id,
                (None, Some(name)) => {
                    let user_ok = match a.get("user") {
                        Some(u) => {
                            u.get("id").and_then(Value::as_str) == Some(&self.user_id)
                                || (u.get("name").and_then(Value::as_str) == Some(&c.username)
                                    && domain_ok(u.get("domain")))
                        }
                        None => false,
                    };
                    name == c.app_cred_name && user_ok
                }
                _ => {
                    return keystone_error(
                        400,
                        "Expecting to find id or name in application_credential",
                    );
                }
            };
            if !who || a.get("secret").and_then(Value::as_str) != Some(&c.app_cred_secret) {
                return keystone_error(401, "The request you have made requires authentication.");
            }
            if body.pointer("/auth/scope").is_some() {
                return keystone_error(401, "Application credentials cannot request a scope.");
            }
            app_cred =
                Some(json!({"id": self.app_cred_id, "name": c.app_cred_name, "restricted": true}));
        } else {
            return keystone_error(
                401,
                &format!("Unsupported authentication method(s): {methods:?}"),
            );
        }
        // Scope: application credentials are always project-scoped.
        let scope = body.pointer("/auth/scope");
        let project = json!({"id": self.project_id, "name": c.project_name, "domain": domain});
        let (project_scope, domain_scope) = if app_cred.is_some() {
            (true, false)
        } else {
            match scope {
                None => (false, false),
                Some(s) if s.get("project").is_some() => {
                    let p = &s["project"];
                    let ok = p.get("id").and_then(Value::as_str) == Some(&self.project_id)
                        || (p.get("name").and_then(Value::as_str) == Some(&c.project_name)
                            && domain_ok(p.get("domain")));
                    if !ok {
                        return keystone_error(
                            401,
                            "The request you have made requires authentication.",
                        );
                    }
                    (true, false)
                }
                Some(s) if s.get("domain").is_some() => {
                    if !domain_ok(s.get("domain")) {
                        return keystone_error(
                            401,
                            "The request you have made requires authentication.",
                        );
                    }
                    (false, true)
                }
                Some(_) => return keystone_error(400, "Invalid scope"),
            }
        };
        let now = util::now();
        let expires = now + self.cfg.token_ttl;
        let mut token = json!({
            "methods": methods,
            "user": {"id": self.user_id, "name": c.username, "domain": domain, "password_expires_at": null},
            "audit_ids": [util::hex_id()[..22].to_string()],
            "issued_at": util::iso_micro(now),
            "expires_at": util::iso_micro(expires),
        });
        if project_scope {
            token["project"] = project;
            token["is_domain"] = json!(false);
            token["roles"] = json!([{"id": util::hex_id(), "name": "admin"}, {"id": util::hex_id(), "name": "member"}, {"id": util::hex_id(), "name": "reader"}]);
            token["catalog"] = self.catalog();
        } else if domain_scope {
            token["domain"] = domain;
            token["roles"] = json!([{"id": util::hex_id(), "name": "admin"}]);
            token["catalog"] = self.catalog();
        }
        if let Some(a) = app_cred {
            token["application_credential"] = a;
        }
        let body = json!({"token": token});
        let tok = util::token_string();
        self.m().tokens.insert(
            tok.clone(),
            Token {
                expires,
                project_id: project_scope.then(|| self.project_id.clone()),
                body: body.clone(),
            },
        );
        Resp::json(201, body).header("X-Subject-Token", tok)
    }

    // ------------------------------------------------------------------ heat

    fn heat(self: &Arc<Self>, req: &Req, segs: &[&str], token_project: Option<String>) -> Resp {
        let ["v1", project, rest @ ..] = segs else {
            return heat_error(404, "NotFound", "The resource could not be found.");
        };
        if token_project.as_deref() != Some(*project) {
            return heat_error(
                403,
                "Forbidden",
                "You are not authorized to use this project (token scope differs).",
            );
        }
        let m = req.method.as_str();
        match (m, rest) {
            ("POST", ["stacks"]) => self.stack_create(req),
            ("GET", ["stacks"]) => {
                let md = self.m();
                let stacks: Vec<Value> = md
                    .stacks
                    .values()
                    .filter(|s| !s.deleted && s.parent.is_none())
                    .map(|s| self.stack_summary(s))
                    .collect();
                Resp::json(200, json!({"stacks": stacks}))
            }
            ("GET", ["stacks", name]) => {
                let md = self.m();
                match md.find_stack(name) {
                    Some(s) if !s.deleted => {
                        let loc = format!("{}/stacks/{}/{}", self.heat_url(), s.name, s.id);
                        Resp::json(302, json!({"location": loc})).header("Location", loc)
                    }
                    _ => heat_error(
                        404,
                        "EntityNotFound",
                        &format!("The Stack ({name}) could not be found."),
                    ),
                }
            }
            (_, ["stacks", name, sub, more @ ..])
                if STACK_SUBRESOURCES.contains(sub) && !self.m().stacks.contains_key(*sub) =>
            {
                // Lookup by name or id alone: Heat redirects to the canonical URL.
                let (sname, sid) = {
                    let md = self.m();
                    match md.find_stack(name).filter(|s| !s.deleted) {
                        Some(s) => (s.name.clone(), s.id.clone()),
                        None => {
                            return heat_error(
                                404,
                                "EntityNotFound",
                                &format!("The Stack ({name}) could not be found."),
                            );
                        }
                    }
                };
                let mut tail = vec![*sub];
                tail.extend_from_slice(more);
                if m == "GET" {
                    let mut loc = format!(
                        "{}/stacks/{sname}/{sid}/{}",
                        self.heat_url(),
                        tail.join("/")
                    );
                    let q: Vec<String> =
                        req.query.iter().map(|(k, v)| format!("{k}={v}")).collect();
                    if !q.is_empty() {
                        loc = format!("{loc}?{}", q.join("&"));
                    }
                    return Resp::json(302, json!({"location": loc})).header("Location", loc);
                }
                self.stack_op(req, &sid, &tail)
            }
            (_, ["stacks", name, id, more @ ..]) => {
                let sid = {
                    let md = self.m();
                    match md
                        .stacks
                        .get(*id)
                        .filter(|s| s.name == *name || s.id == *name)
                    {
                        Some(s) => s.id.clone(),
                        None => {
                            return heat_error(
                                404,
                                "EntityNotFound",
                                &format!("The Stack ({name}) could not be found."),
                            );
                        }
                    }
                };
                self.stack_op(req, &sid, more)
            }
            _ => heat_error(404, "NotFound", "The resource could not be found."),
        }
    }

    fn stack_links(&self, s: &Stack) -> Value {
        json!([{"href": format!("{}/stacks/{}/{}", self.heat_url(), s.name, s.id), "rel": "self"}])
    }

    fn stack_summary(&self, s: &Stack) -> Value {
        json!({"id": s.id, "stack_name": s.name, "stack_status": s.status_str(),
               "stack_status_reason": s.reason, "creation_time": iso(s.created),
               "updated_time": s.updated.map(iso), "deletion_time": null,
               "description": s.template.get("description").cloned().unwrap_or(json!("No description")),
               "links": self.stack_links(s), "stack_owner": null, "parent": s.parent.as_ref().map(|p| p.0.clone()),
               "stack_user_project_id": self.project_id, "tags": null, "project": self.project_id})
    }

    fn stack_create(self: &Arc<Self>, req: &Req) -> Resp {
        let body = match req.json() {
            Ok(b) => b,
            Err(e) => return heat_error(400, "HTTPBadRequest", &e),
        };
        let (name, id) = match self.prepare_stack(&body) {
            Ok(x) => x,
            Err(r) => return r,
        };
        let emu = self.clone();
        let sid = id.clone();
        std::thread::spawn(move || {
            let _g = emu.op_lock();
            let _ = emu.create_stack(&sid);
        });
        let links =
            json!([{"href": format!("{}/stacks/{name}/{id}", self.heat_url()), "rel": "self"}]);
        Resp::json(201, json!({"stack": {"id": id, "links": links}}))
    }

    /// Validates a stack-create body and records the stack (`CREATE_IN_PROGRESS`);
    /// returns `(name, id)`, or the Heat error response.
    pub(crate) fn prepare_stack(&self, body: &Value) -> Result<(String, String), Resp> {
        let name = body.get("stack_name").and_then(Value::as_str).unwrap_or("");
        let valid_name = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
            && name.len() <= 255
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
        if !valid_name {
            return Err(heat_error(
                400,
                "StackValidationFailed",
                &format!(
                    "Invalid stack name {name:?} must contain only alphanumeric or \"_-.\" characters, must start with alpha and must be 255 characters or less."
                ),
            ));
        }
        if body.get("template_url").is_some() {
            return Err(heat_error(
                400,
                "HTTPBadRequest",
                "template_url is not supported by openstack-emu; send template",
            ));
        }
        if body
            .pointer("/environment/resource_registry")
            .and_then(Value::as_object)
            .is_some_and(|m| !m.is_empty())
        {
            return Err(heat_error(
                400,
                "HTTPBadRequest",
                "environment resource_registry is not supported by openstack-emu",
            ));
        }
        let Some(tv) = body.get("template") else {
            return Err(heat_error(400, "HTTPBadRequest", "No template specified"));
        };
        let top = match template::parse_template("template", tv) {
            Ok(t) => t,
            Err(e) => return Err(heat_error(400, e.kind, &e.message)),
        };
        let raw_files = body
            .get("files")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        let mut files = BTreeMap::new();
        for (k, v) in &raw_files {
            match template::parse_template(k, v) {
                Ok(t) if t.get("heat_template_version").is_some() => {
                    files.insert(k.clone(), t);
                }
                Ok(_) => {}
                Err(e) => {
                    if template_uses(&top, k) {
                        return Err(heat_error(400, e.kind, &e.message));
                    }
                }
            }
        }
        let mut params = body
            .get("parameters")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        if let Some(env) = body
            .pointer("/environment/parameters")
            .and_then(Value::as_object)
        {
            for (k, v) in env {
                params.entry(k.clone()).or_insert(v.clone());
            }
        }
        // Heat accepts json parameters as JSON text too.
        let decl = top
            .get("parameters")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        for (k, v) in params.iter_mut() {
            if decl
                .get(k)
                .and_then(|d| d.get("type"))
                .and_then(Value::as_str)
                == Some("json")
                && let Value::String(s) = v
            {
                match serde_json::from_str::<Value>(s) {
                    Ok(x) => *v = x,
                    Err(e) => {
                        return Err(heat_error(
                            400,
                            "StackValidationFailed",
                            &format!("Parameter '{k}' is invalid: Value must be valid JSON: {e}"),
                        ));
                    }
                }
            }
        }
        if let Err(e) = template::validate("template", &top, &files, Some(&params), 0) {
            return Err(heat_error(400, e.kind, &e.message));
        }
        if self.m().find_stack(name).is_some_and(|s| !s.deleted) {
            return Err(heat_error(
                409,
                "StackExists",
                &format!("The Stack ({name}) already exists."),
            ));
        }
        let id = self.new_stack(
            name.to_string(),
            top,
            Arc::new(files),
            Arc::new(raw_files),
            params,
            None,
        );
        Ok((name.to_string(), id))
    }

    fn stack_op(self: &Arc<Self>, req: &Req, sid: &str, more: &[&str]) -> Resp {
        let m = req.method.as_str();
        match (m, more) {
            ("GET", []) => {
                let md = self.m();
                let Some(s) = md.stacks.get(sid) else {
                    return heat_error(404, "EntityNotFound", "stack vanished");
                };
                let mut v = self.stack_summary(s);
                let mut params: Map<String, Value> = s
                    .params
                    .iter()
                    .map(|(k, v)| {
                        (
                            k.clone(),
                            match v {
                                Value::String(x) => json!(x),
                                o => json!(o.to_string()),
                            },
                        )
                    })
                    .collect();
                params.insert("OS::stack_name".into(), json!(s.name));
                params.insert("OS::stack_id".into(), json!(s.id));
                params.insert("OS::project_id".into(), json!(self.project_id));
                v["parameters"] = Value::Object(params);
                v["outputs"] = json!([]);
                v["disable_rollback"] = json!(true);
                v["timeout_mins"] = Value::Null;
                v["capabilities"] = json!([]);
                v["notification_topics"] = json!([]);
                v["template_description"] = v["description"].clone();
                Resp::json(200, json!({"stack": v}))
            }
            ("DELETE", []) => {
                {
                    let mut md = self.m();
                    let Some(s) = md.stacks.get_mut(sid) else {
                        return heat_error(404, "EntityNotFound", "stack vanished");
                    };
                    if s.deleted {
                        return heat_error(
                            404,
                            "EntityNotFound",
                            &format!("The Stack ({}) could not be found.", s.name),
                        );
                    }
                    if s.parent.is_some() {
                        return heat_error(
                            400,
                            "NotSupported",
                            "Deleting a nested stack directly is not supported; delete its parent.",
                        );
                    }
                }
                self.set_stack_pub(sid, "DELETE", "IN_PROGRESS", "Stack DELETE started");
                let emu = self.clone();
                let sid = sid.to_string();
                std::thread::spawn(move || {
                    let _g = emu.op_lock();
                    let _ = emu.delete_stack(&sid);
                });
                Resp::empty(204)
            }
            ("PATCH" | "PUT", []) => {
                let body = match req.json() {
                    Ok(b) => b,
                    Err(e) => return heat_error(400, "HTTPBadRequest", &e),
                };
                let existing =
                    m == "PATCH" || body.get("existing").and_then(Value::as_bool) == Some(true);
                let (current, cur_params, parent) = {
                    let md = self.m();
                    let Some(s) = md.stacks.get(sid) else {
                        return heat_error(404, "EntityNotFound", "stack vanished");
                    };
                    (s.template.clone(), s.params.clone(), s.parent.is_some())
                };
                if parent {
                    return heat_error(
                        400,
                        "NotSupported",
                        "Updating a nested stack directly is not supported; update its parent.",
                    );
                }
                if !existing {
                    return heat_error(
                        400,
                        "HTTPBadRequest",
                        "Only updates with existing: true (PATCH) are supported by openstack-emu",
                    );
                }
                if let Some(t) = body.get("template") {
                    match template::parse_template("template", t) {
                        Ok(t) if t == current => {}
                        Ok(_) => {
                            return heat_error(
                                400,
                                "NotSupported",
                                "Changing the template in an update is not supported by openstack-emu",
                            );
                        }
                        Err(e) => return heat_error(400, e.kind, &e.message),
                    }
                }
                if let Some(p) = body.get("parameters").and_then(Value::as_object) {
                    for (k, v) in p {
                        if cur_params.get(k) != Some(v) {
                            return heat_error(
                                400,
                                "NotSupported",
                                &format!(
                                    "Changing parameter {k} in an update is not supported by openstack-emu"
                                ),
                            );
                        }
                    }
                }
                self.set_stack_pub(sid, "UPDATE", "IN_PROGRESS", "Stack UPDATE started");
                let emu = self.clone();
                let sid = sid.to_string();
                std::thread::spawn(move || {
                    let _g = emu.op_lock();
                    let _ = emu.update_existing(&sid);
                });
                Resp::empty(202)
            }
            ("GET", ["template"]) => {
                let md = self.m();
                Resp::json(
                    200,
                    md.stacks
                        .get(sid)
                        .map(|s| s.template.clone())
                        .unwrap_or(Value::Null),
                )
            }
            ("GET", ["files"]) => {
                let md = self.m();
                Resp::json(
                    200,
                    md.stacks
                        .get(sid)
                        .map(|s| Value::Object((*s.raw_files).clone()))
                        .unwrap_or(Value::Null),
                )
            }
            ("GET", ["resources"]) => {
                let depth: usize = req
                    .query
                    .get("nested_depth")
                    .and_then(|d| d.parse().ok())
                    .unwrap_or(0);
                let md = self.m();
                let mut out = Vec::new();
                self.list_resources(&md, sid, depth, None, &mut out);
                Resp::json(200, json!({"resources": out}))
            }
            ("GET", ["resources", rname]) => {
                let md = self.m();
                let Some(s) = md.stacks.get(sid) else {
                    return heat_error(404, "EntityNotFound", "stack vanished");
                };
                match s.resources.get(*rname) {
                    Some(r) => {
                        let mut v = self.resource_json(s, r, None);
                        if let Some(n) = r.nested.as_ref().and_then(|n| md.stacks.get(n))
                            && let Some(l) = v["links"].as_array_mut()
                        {
                            l.push(json!({"href": format!("{}/stacks/{}/{}", self.heat_url(), n.name, n.id), "rel": "nested"}));
                        }
                        v["attributes"] = Value::Object(self.show_attributes(&md, s, r));
                        v["description"] = json!("");
                        v["metadata"] = json!({});
                        Resp::json(200, json!({"resource": v}))
                    }
                    None => heat_error(
                        404,
                        "ResourceNotFound",
                        &format!(
                            "The Resource ({rname}) could not be found in Stack {}.",
                            s.name
                        ),
                    ),
                }
            }
            ("PATCH", ["resources", rname]) => {
                let body = match req.json() {
                    Ok(b) => b,
                    Err(e) => return heat_error(400, "HTTPBadRequest", &e),
                };
                let Some(mark) = body.get("mark_unhealthy").and_then(Value::as_bool) else {
                    return heat_error(
                        400,
                        "HTTPBadRequest",
                        "mark_unhealthy (boolean) is required",
                    );
                };
                let reason = body
                    .get("resource_status_reason")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string();
                let mut md = self.m();
                let Some(r) = md
                    .stacks
                    .get_mut(sid)
                    .and_then(|s| s.resources.get_mut(*rname))
                else {
                    return heat_error(
                        404,
                        "ResourceNotFound",
                        &format!("The Resource ({rname}) could not be found."),
                    );
                };
                if r.status == "IN_PROGRESS" {
                    return heat_error(
                        409,
                        "ActionInProgress",
                        &format!("Resource {rname} is in progress."),
                    );
                }
                if mark {
                    r.action = "CHECK".into();
                    r.status = "FAILED".into();
                    r.reason = if reason.is_empty() {
                        "Marked unhealthy".into()
                    } else {
                        reason
                    };
                } else if r.unhealthy() {
                    r.action = "CHECK".into();
                    r.status = "COMPLETE".into();
                    r.reason = reason;
                }
                r.updated = Some(util::now());
                Resp::empty(200)
            }
            ("POST", ["resources", rname, "signal"]) => {
                let rtype = {
                    let md = self.m();
                    let Some(r) = md.stacks.get(sid).and_then(|s| s.resources.get(*rname)) else {
                        return heat_error(
                            404,
                            "ResourceNotFound",
                            &format!("The Resource ({rname}) could not be found."),
                        );
                    };
                    r.rtype.clone()
                };
                if rtype != "OS::Heat::ScalingPolicy" {
                    return heat_error(
                        400,
                        "ResourceActionNotSupported",
                        &format!("{rtype} does not support signals in openstack-emu"),
                    );
                }
                let emu = self.clone();
                let (sid, rname) = (sid.to_string(), rname.to_string());
                std::thread::spawn(move || {
                    let _g = emu.op_lock();
                    let _ = emu.signal(&sid, &rname);
                });
                Resp::empty(200)
            }
            ("GET", ["outputs"]) => Resp::json(200, json!({"outputs": []})),
            _ => heat_error(404, "NotFound", "The resource could not be found."),
        }
    }

    /// Sets a stack's status (API side, before the worker runs).
    fn set_stack_pub(&self, sid: &str, action: &str, status: &str, reason: &str) {
        if let Some(s) = self.m().stacks.get_mut(sid) {
            s.action = action.into();
            s.status = status.into();
            s.reason = reason.into();
            s.updated = Some(util::now());
        }
    }

    fn resource_json(&self, s: &Stack, r: &crate::model::Resource, parent: Option<&str>) -> Value {
        let stack_url = format!("{}/stacks/{}/{}", self.heat_url(), s.name, s.id);
        let links = vec![
            json!({"href": format!("{stack_url}/resources/{}", r.name), "rel": "self"}),
            json!({"href": stack_url, "rel": "stack"}),
        ];
        let required_by: Vec<String> = template::resources(&s.template)
            .iter()
            .filter(|(_, d)| d.to_string().contains(&format!("\"{}\"", r.name)))
            .map(|(k, _)| k.clone())
            .filter(|k| k != &r.name)
            .collect();
        let mut v = json!({
            "resource_name": r.name, "logical_resource_id": r.name, "physical_resource_id": r.physical_id,
            "resource_type": r.rtype, "resource_status": r.status_str(), "resource_status_reason": r.reason,
            "creation_time": iso(r.created), "updated_time": iso(r.updated.unwrap_or(r.created)),
            "required_by": required_by, "links": links,
        });
        if let Some(p) = parent {
            v["parent_resource"] = json!(p);
        }
        v
    }

    fn list_resources(
        &self,
        md: &crate::model::Model,
        sid: &str,
        depth: usize,
        parent: Option<&str>,
        out: &mut Vec<Value>,
    ) {
        let Some(s) = md.stacks.get(sid) else { return };
        for r in s.resources.values() {
            let mut v = self.resource_json(s, r, parent);
            if let Some(n) = r.nested.as_ref().and_then(|n| md.stacks.get(n))
                && let Some(l) = v["links"].as_array_mut()
            {
                l.push(json!({"href": format!("{}/stacks/{}/{}", self.heat_url(), n.name, n.id), "rel": "nested"}));
            }
            out.push(v);
            if depth > 0
                && let Some(n) = &r.nested
            {
                self.list_resources(md, n, depth - 1, Some(&r.name), out);
            }
        }
    }

    // ------------------------------------------------------------------ nova

    fn nova(&self, req: &Req, segs: &[&str]) -> Resp {
        const MAX: (u32, u32) = (2, 96);
        let requested = req
            .header("openstack-api-version")
            .and_then(|v| v.strip_prefix("compute "))
            .or_else(|| req.header("x-openstack-nova-api-version"))
            .map(str::trim);
        let version = match requested {
            None => (2, 1),
            Some("latest") => MAX,
            Some(v) => match v
                .split_once('.')
                .and_then(|(a, b)| Some((a.parse::<u32>().ok()?, b.parse::<u32>().ok()?)))
            {
                Some(x) if x >= (2, 1) && x <= MAX => x,
                _ => {
                    return nova_error(
                        406,
                        &format!(
                            "Version {v} is not supported by the API. Minimum is 2.1 and maximum is 2.96."
                        ),
                    );
                }
            },
        };
        let vs = format!("{}.{}", version.0, version.1);
        let resp = self.nova_inner(req, segs);
        resp.header("OpenStack-API-Version", format!("compute {vs}"))
            .header("X-OpenStack-Nova-API-Version", vs)
            .header(
                "Vary",
                "OpenStack-API-Version, X-OpenStack-Nova-API-Version",
            )
    }

    fn nova_inner(&self, req: &Req, segs: &[&str]) -> Resp {
        let md = self.m();
        match (req.method.as_str(), segs) {
            ("GET", ["v2.1", "servers"]) | ("GET", ["v2.1", "servers", "detail"]) => {
                let list: Vec<Value> = md
                    .servers
                    .values()
                    .map(|s| self.server_json(&md, s))
                    .collect();
                Resp::json(200, json!({"servers": list}))
            }
            ("GET", ["v2.1", "servers", id]) => match md.servers.get(*id) {
                Some(s) => Resp::json(200, json!({"server": self.server_json(&md, s)})),
                None => nova_error(404, &format!("Instance {id} could not be found.")),
            },
            ("GET", ["v2.1", "os-server-groups", id]) => match md.server_groups.get(*id) {
                Some(g) => Resp::json(
                    200,
                    json!({"server_group": {"id": g.id, "name": g.name, "policies": g.policies,
                    "members": g.members, "metadata": {}, "project_id": g.project_id}}),
                ),
                None => nova_error(404, &format!("Server group {id} could not be found.")),
            },
            ("POST", ["v2.1", "servers", id, "action"]) => {
                let Some(s) = md.servers.get(*id).cloned() else {
                    return nova_error(404, &format!("Instance {id} could not be found."));
                };
                drop(md);
                let body = match req.json() {
                    Ok(b) => b,
                    Err(e) => return nova_error(400, &e),
                };
                let Some(a) = body.get("os-getConsoleOutput") else {
                    return nova_error(400, "Only the os-getConsoleOutput action is emulated");
                };
                let length = match a.get("length") {
                    None | Some(Value::Null) => None,
                    Some(Value::Number(n)) => n.as_i64(),
                    Some(Value::String(x)) => match x.parse::<i64>() {
                        Ok(n) => Some(n),
                        Err(_) => {
                            return nova_error(
                                400,
                                &format!("Invalid input for field/attribute length. Value: {x}."),
                            );
                        }
                    },
                    Some(other) => {
                        return nova_error(
                            400,
                            &format!("Invalid input for field/attribute length. Value: {other}."),
                        );
                    }
                };
                match self.console_log(&s) {
                    Ok(text) => {
                        let text = match length {
                            Some(n) if n >= 0 => {
                                let lines: Vec<&str> = text.lines().collect();
                                let from = lines.len().saturating_sub(n as usize);
                                lines[from..].join("\n")
                            }
                            _ => text,
                        };
                        Resp::json(200, json!({"output": text}))
                    }
                    Err(e) => nova_error(409, &e),
                }
            }
            _ => nova_error(404, "The resource could not be found."),
        }
    }

    /// A cloud-init style console log with the host's SSH keys.
    fn console_log(&self, s: &crate::model::Server) -> Result<String, String> {
        let host = self
            .lab
            .host(&s.lab_host)
            .map_err(|e| format!("console unavailable: {e}"))?;
        let user = &host.user;
        let mut out = String::new();
        out.push_str("[    0.000000] Linux version 6.1.0-emu (openstack-emu) #1 SMP\n");
        out.push_str(&format!("[    0.000000] Command line: BOOT_IMAGE=/vmlinuz root=LABEL=cloudimg-rootfs console=ttyS0 ({})\n", s.image));
        out.push_str("[    2.104311] EXT4-fs (vda1): mounted filesystem with ordered data mode.\n");
        out.push_str(&format!(
            "Cloud-init v. 23.1.2 running 'init' at {}. Up 4.20 seconds.\n",
            iso(s.created)
        ));
        out.push_str(&format!("ci-info: +++++++++++++++++++++++++Net device info+++++++++++++++++++++++++\nci-info: | eth0 | True | {} | 255.255.255.0 | global |\n", host.ip));
        out.push_str(&format!(
            "ci-info: no authorized SSH keys fingerprints found for user {user}.\n"
        ));
        out.push_str("<14>Nov 21 00:00:00 cloud-init: #############################################################\n");
        out.push_str("-----BEGIN SSH HOST KEY KEYS-----\n");
        out.push_str(&host.host_keys.ecdsa);
        out.push('\n');
        out.push_str(&host.host_keys.ed25519);
        out.push('\n');
        out.push_str("-----END SSH HOST KEY KEYS-----\n");
        out.push_str("<14>Nov 21 00:00:00 cloud-init: #############################################################\n");
        out.push_str(&format!("Cloud-init v. 23.1.2 finished at {}. Datasource DataSourceOpenStackLocal [net,ver=2].  Up 9.87 seconds\n", iso(s.created)));
        out.push_str(&format!("\n{} login: ", host.name));
        Ok(out)
    }

    // ------------------------------------------------------------------ neutron

    fn neutron(&self, req: &Req, segs: &[&str]) -> Resp {
        let md = self.m();
        match (req.method.as_str(), segs) {
            ("GET", ["v2.0", "ports"]) => {
                let list: Vec<Value> = md
                    .ports
                    .values()
                    .filter(|p| req.query.get("device_id").is_none_or(|d| d == &p.device_id))
                    .filter(|p| {
                        req.query
                            .get("network_id")
                            .is_none_or(|d| d == &p.network_id)
                    })
                    .filter(|p| req.query.get("name").is_none_or(|d| d == &p.name))
                    .map(|p| self.port_json(&md, p))
                    .collect();
                Resp::json(200, json!({"ports": list}))
            }
            ("GET", ["v2.0", "ports", id]) => match md.ports.get(*id) {
                Some(p) => Resp::json(200, json!({"port": self.port_json(&md, p)})),
                None => neutron_error(
                    404,
                    "PortNotFound",
                    &format!("Port {id} could not be found."),
                ),
            },
            ("GET", ["v2.0", "floatingips", id]) => match md.floating_ips.get(*id) {
                Some(f) => Resp::json(
                    200,
                    json!({"floatingip": {"id": f.id, "floating_ip_address": f.address.to_string(),
                    "floating_network_id": f.network_id, "port_id": f.port_id,
                    "fixed_ip_address": f.port_id.as_ref().and_then(|p| md.ports.get(p)).map(|p| p.ip.to_string()),
                    "project_id": f.project_id, "tenant_id": f.project_id, "status": "ACTIVE", "router_id": null}}),
                ),
                None => neutron_error(
                    404,
                    "FloatingIPNotFound",
                    &format!("Floating IP {id} could not be found"),
                ),
            },
            _ => neutron_error(404, "HTTPNotFound", "The resource could not be found."),
        }
    }

    // ------------------------------------------------------------------ cinder

    fn cinder(&self, req: &Req, segs: &[&str], token_project: Option<String>) -> Resp {
        let ["v3", project, rest @ ..] = segs else {
            return nova_error(404, "The resource could not be found.");
        };
        if token_project.as_deref() != Some(*project) {
            return nova_error(
                403,
                "Policy doesn't allow this operation (token scope differs).",
            );
        }
        let md = self.m();
        let resp = match (req.method.as_str(), rest) {
            ("GET", ["volumes"]) | ("GET", ["volumes", "detail"]) => {
                let list: Vec<Value> = md
                    .volumes
                    .values()
                    .map(|v| self.volume_json(&md, v))
                    .collect();
                Resp::json(200, json!({"volumes": list}))
            }
            ("GET", ["volumes", id]) => match md.volumes.get(*id) {
                Some(v) => Resp::json(200, json!({"volume": self.volume_json(&md, v)})),
                None => nova_error(404, &format!("Volume {id} could not be found.")),
            },
            _ => nova_error(404, "The resource could not be found."),
        };
        resp.header("OpenStack-API-Version", "volume 3.0")
    }
}

/// Path segments after `/stacks/{name_or_id}` that are not a stack id.
const STACK_SUBRESOURCES: &[&str] = &[
    "resources",
    "template",
    "files",
    "outputs",
    "events",
    "actions",
    "environment",
];

fn template_uses(t: &Value, key: &str) -> bool {
    t.to_string().contains(&format!("\"{key}\""))
}

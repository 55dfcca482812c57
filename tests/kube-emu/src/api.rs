//! The HTTPS API server: routing, authentication, CRUD over etcd, watch, and the few
//! controllers whose effects the driver observes (PV binding, eviction, token issuing).

use crate::etcd::{Etcd, Kv, WatchEvent};
use crate::pki;
use crate::resources::{self, Res};
use crate::util::*;
use anyhow::Result;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, StreamBody, combinators::UnsyncBoxBody};
use hyper::body::{Frame, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use serde_json::{Value, json};
use std::collections::{BTreeSet, HashMap};
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

pub type Body = UnsyncBoxBody<Bytes, Infallible>;
type Resp = Response<Body>;

const MAX_BODY: usize = 3 * 1024 * 1024;

#[derive(Clone, Debug)]
pub struct User {
    pub name: String,
    pub groups: Vec<String>,
}

pub struct ServerConfig {
    pub etcd: Etcd,
    /// `token,user,uid,"group1,group2"` lines, as kube-apiserver's `--token-auth-file`.
    pub static_tokens: HashMap<String, User>,
    pub ca_pem: String,
    /// host:port clients should use (for `/api` serverAddressByClientCIDRs).
    pub advertise: String,
}

pub struct Server {
    cfg: ServerConfig,
}

#[derive(Debug)]
pub struct ApiError {
    code: u16,
    reason: &'static str,
    message: String,
    details: Option<Value>,
}

type ApiResult<T> = std::result::Result<T, ApiError>;

impl ApiError {
    fn new(code: u16, reason: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            code,
            reason,
            message: message.into(),
            details: None,
        }
    }
    fn not_found(res: &Res, name: &str) -> Self {
        let mut e = Self::new(
            404,
            "NotFound",
            format!("{} \"{}\" not found", res.qualified(), name),
        );
        e.details = Some(json!({"name": name, "group": res.group, "kind": res.plural}));
        e
    }
    fn already_exists(res: &Res, name: &str) -> Self {
        let mut e = Self::new(
            409,
            "AlreadyExists",
            format!("{} \"{}\" already exists", res.qualified(), name),
        );
        e.details = Some(json!({"name": name, "group": res.group, "kind": res.plural}));
        e
    }
    fn conflict(res: &Res, name: &str) -> Self {
        let mut e = Self::new(
            409,
            "Conflict",
            format!(
                "Operation cannot be fulfilled on {} \"{}\": the object has been modified; please apply your changes to the latest version and try again",
                res.qualified(),
                name
            ),
        );
        e.details = Some(json!({"name": name, "group": res.group, "kind": res.plural}));
        e
    }
    fn bad_request(msg: impl Into<String>) -> Self {
        Self::new(400, "BadRequest", msg)
    }
    fn invalid(res: &Res, name: &str, causes: Vec<(&str, &str, String)>) -> Self {
        let msgs: Vec<String> = causes.iter().map(|(f, _, m)| format!("{f}: {m}")).collect();
        let msg = if msgs.len() == 1 {
            msgs[0].clone()
        } else {
            format!("[{}]", msgs.join(", "))
        };
        let mut e = Self::new(
            422,
            "Invalid",
            format!("{} \"{}\" is invalid: {}", res.kind, name, msg),
        );
        e.details = Some(json!({"name": name, "group": res.group, "kind": res.kind,
            "causes": causes.iter().map(|(f, r, m)| json!({"reason": r, "message": m, "field": f})).collect::<Vec<_>>()}));
        e
    }
    fn internal(e: impl std::fmt::Display) -> Self {
        Self::new(
            500,
            "InternalError",
            format!("Internal error occurred: {e}"),
        )
    }
    fn body(&self) -> Value {
        let mut v = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": self.message, "reason": self.reason, "code": self.code});
        if let Some(d) = &self.details {
            v["details"] = d.clone();
        }
        v
    }
}

impl From<anyhow::Error> for ApiError {
    fn from(e: anyhow::Error) -> Self {
        ApiError::internal(format!("{e:#}"))
    }
}

fn full(b: impl Into<Bytes>) -> Body {
    Full::new(b.into()).boxed_unsync()
}

fn json_resp(code: u16, v: &Value) -> Resp {
    let mut r = Response::new(full(serde_json::to_vec(v).unwrap_or_default()));
    *r.status_mut() = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    r.headers_mut()
        .insert("content-type", "application/json".parse().expect("header"));
    r
}

fn err_resp(e: ApiError) -> Resp {
    json_resp(e.code, &e.body())
}

struct Query(HashMap<String, String>);

impl Query {
    fn parse(q: Option<&str>) -> Query {
        let mut m = HashMap::new();
        for pair in q.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let dec = |s: &str| {
                percent_encoding::percent_decode_str(&s.replace('+', " "))
                    .decode_utf8_lossy()
                    .into_owned()
            };
            m.insert(dec(k), dec(v));
        }
        Query(m)
    }
    fn get(&self, k: &str) -> Option<&str> {
        self.0.get(k).map(String::as_str)
    }
    fn flag(&self, k: &str) -> bool {
        matches!(self.get(k), Some("true" | "1"))
    }
}

struct Target {
    res: &'static Res,
    ns: Option<String>,
    name: Option<String>,
    sub: Option<String>,
}

impl Target {
    fn key(&self, name: &str) -> String {
        match &self.ns {
            Some(ns) => format!("/registry/{}/{}/{}", self.res.etcd, ns, name),
            None => format!("/registry/{}/{}", self.res.etcd, name),
        }
    }
    fn prefix(&self) -> String {
        match &self.ns {
            Some(ns) => format!("/registry/{}/{}/", self.res.etcd, ns),
            None => format!("/registry/{}/", self.res.etcd),
        }
    }
}

pub fn obj_key(res: &Res, ns: Option<&str>, name: &str) -> String {
    match ns {
        Some(ns) => format!("/registry/{}/{}/{}", res.etcd, ns, name),
        None => format!("/registry/{}/{}", res.etcd, name),
    }
}

fn res_of(plural: &str) -> &'static Res {
    RESOURCE_BY_PLURAL(plural)
}

#[allow(non_snake_case)]
fn RESOURCE_BY_PLURAL(plural: &str) -> &'static Res {
    resources::RESOURCES
        .iter()
        .find(|r| r.plural == plural)
        .expect("known resource")
}

fn decode(kv: &Kv) -> Value {
    let mut v: Value = serde_json::from_slice(&kv.value).unwrap_or(Value::Null);
    if let Some(m) = v.get_mut("metadata").and_then(Value::as_object_mut) {
        m.insert("resourceVersion".into(), json!(kv.mod_revision.to_string()));
    }
    v
}

fn encode(v: &Value) -> Vec<u8> {
    let mut v = v.clone();
    if let Some(m) = v.get_mut("metadata").and_then(Value::as_object_mut) {
        m.remove("resourceVersion");
    }
    serde_json::to_vec(&v).unwrap_or_default()
}

fn name_of(v: &Value) -> &str {
    v["metadata"]["name"].as_str().unwrap_or("")
}

fn set_rv(v: &mut Value, rev: i64) {
    v["metadata"]["resourceVersion"] = json!(rev.to_string());
}

fn parse_body(ct: &str, body: &[u8]) -> ApiResult<Value> {
    if body.is_empty() {
        return Err(ApiError::bad_request("the request body is empty"));
    }
    if let Ok(v) = serde_json::from_slice::<Value>(body) {
        return Ok(v);
    }
    if ct.contains("yaml") {
        let s = std::str::from_utf8(body)
            .map_err(|_| ApiError::bad_request("request body is not UTF-8"))?;
        return serde_saphyr::from_str::<Value>(s)
            .map_err(|e| ApiError::bad_request(format!("error decoding YAML: {e}")));
    }
    Err(ApiError::bad_request(format!(
        "couldn't get version/kind; json parse error: {}",
        serde_json::from_slice::<Value>(body)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default()
    )))
}

impl Server {
    pub fn new(cfg: ServerConfig) -> Arc<Server> {
        Arc::new(Server { cfg })
    }

    pub fn etcd(&self) -> &Etcd {
        &self.cfg.etcd
    }

    /// Create the namespaces kube-apiserver creates at startup (idempotent, race-safe).
    pub async fn bootstrap(&self) -> Result<()> {
        for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
            let mut obj = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns,
                "labels": {"kubernetes.io/metadata.name": ns}}, "spec": {"finalizers": ["kubernetes"]},
                "status": {"phase": "Active"}});
            self.stamp_new(&mut obj);
            let key = obj_key(res_of("namespaces"), None, ns);
            if self.cfg.etcd.create(&key, &encode(&obj)).await?.is_some() {
                self.ensure_default_sa(ns).await?;
            }
        }
        // kube-apiserver's RBAC bootstrap policy: the `cluster-admin` ClusterRole (kubeadm
        // binds `kubeadm:cluster-admins` to it). Stored only; nothing is enforced.
        let mut ca = json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
            "metadata": {"name": "cluster-admin",
                "labels": {"kubernetes.io/bootstrapping": "rbac-defaults"},
                "annotations": {"rbac.authorization.kubernetes.io/autoupdate": "true"}},
            "rules": [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]},
                {"nonResourceURLs": ["*"], "verbs": ["*"]}]});
        self.stamp_new(&mut ca);
        self.cfg
            .etcd
            .create(
                &obj_key(res_of("clusterroles"), None, "cluster-admin"),
                &encode(&ca),
            )
            .await?;
        Ok(())
    }

    fn stamp_new(&self, obj: &mut Value) {
        let md = &mut obj["metadata"];
        md["uid"] = json!(pki::uuid_v4());
        md["creationTimestamp"] = json!(now_rfc3339());
        if let Some(m) = md.as_object_mut() {
            m.remove("resourceVersion");
            m.remove("deletionTimestamp");
            m.remove("selfLink");
        }
    }

    async fn ensure_default_sa(&self, ns: &str) -> Result<()> {
        let mut sa = json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default", "namespace": ns}});
        self.stamp_new(&mut sa);
        self.cfg
            .etcd
            .create(
                &obj_key(res_of("serviceaccounts"), Some(ns), "default"),
                &encode(&sa),
            )
            .await?;
        Ok(())
    }

    // ----- authentication -------------------------------------------------------------

    async fn authenticate(&self, req: &Request<Incoming>, peer: Option<&User>) -> Option<User> {
        if let Some(u) = peer {
            return Some(u.clone());
        }
        let h = req.headers().get("authorization")?.to_str().ok()?;
        if let Some(tok) = h.strip_prefix("Bearer ").map(str::trim) {
            if let Some(u) = self.cfg.static_tokens.get(tok) {
                return Some(u.clone());
            }
            return self.token_user(tok).await;
        }
        if let Some(b) = h.strip_prefix("Basic ") {
            // k3s: "server:<token>" / "node:<token>" against the cluster token.
            let dec = B64.decode(b.trim()).ok()?;
            let (user, pass) = std::str::from_utf8(&dec).ok()?.split_once(':')?;
            if matches!(user, "server" | "node") && self.k3s_token_ok(pass).await {
                return Some(User {
                    name: format!("k3s-{user}"),
                    groups: vec!["system:nodes".into()],
                });
            }
        }
        None
    }

    pub async fn k3s_token_ok(&self, token: &str) -> bool {
        let Ok(Some(kv)) = self.cfg.etcd.get("/registry/kube-emu/k3s-token").await else {
            return false;
        };
        let secret = crate::k3s::token_secret(token);
        pki::sha256_hex(secret.as_bytes()) == String::from_utf8_lossy(&kv.value)
    }

    async fn token_user(&self, tok: &str) -> Option<User> {
        // Bootstrap token "abcdef.0123456789abcdef" → Secret kube-system/bootstrap-token-abcdef.
        if let Some((id, secret)) = tok.split_once('.')
            && id.len() == 6
            && secret.len() == 16
        {
            let kv = self
                .cfg
                .etcd
                .get(&obj_key(
                    res_of("secrets"),
                    Some("kube-system"),
                    &format!("bootstrap-token-{id}"),
                ))
                .await
                .ok()??;
            let s = decode(&kv);
            let field = |k: &str| {
                s["data"][k]
                    .as_str()
                    .and_then(|x| B64.decode(x).ok())
                    .map(|b| String::from_utf8_lossy(&b).into_owned())
            };
            if field("token-secret").as_deref() == Some(secret)
                && field("usage-bootstrap-authentication").as_deref() == Some("true")
            {
                if let Some(exp) = field("expiration").and_then(|e| parse_rfc3339(&e))
                    && exp < time::OffsetDateTime::now_utc()
                {
                    return None;
                }
                return Some(User {
                    name: format!("system:bootstrap:{id}"),
                    groups: vec!["system:bootstrappers".into()],
                });
            }
            return None;
        }
        let kv = self
            .cfg
            .etcd
            .get(&format!(
                "/registry/kube-emu/tokens/{}",
                pki::sha256_hex(tok.as_bytes())
            ))
            .await
            .ok()??;
        let rec: Value = serde_json::from_slice(&kv.value).ok()?;
        if let Some(exp) = rec["exp"].as_str().and_then(parse_rfc3339)
            && exp < time::OffsetDateTime::now_utc()
        {
            return None;
        }
        let ns = rec["namespace"].as_str()?;
        // The ServiceAccount must still exist (the same object, when the uid is known).
        let sa_kv = self
            .cfg
            .etcd
            .get(&obj_key(
                res_of("serviceaccounts"),
                Some(ns),
                rec["name"].as_str()?,
            ))
            .await
            .ok()??;
        if !rec["uid"].is_null() && decode(&sa_kv)["metadata"]["uid"] != rec["uid"] {
            return None;
        }
        // A legacy token Secret must still exist and still hold this token.
        if let Some(secret) = rec["secret"].as_str() {
            let s_kv = self
                .cfg
                .etcd
                .get(&obj_key(res_of("secrets"), Some(ns), secret))
                .await
                .ok()??;
            let held = decode(&s_kv)["data"]["token"]
                .as_str()
                .and_then(|t| B64.decode(t).ok())?;
            if held != tok.as_bytes() {
                return None;
            }
        }
        Some(User {
            name: format!(
                "system:serviceaccount:{}:{}",
                rec["namespace"].as_str()?,
                rec["name"].as_str()?
            ),
            groups: vec!["system:serviceaccounts".into()],
        })
    }

    /// Records an issued ServiceAccount token. `sa_uid` binds it to that ServiceAccount
    /// object and `secret` (legacy token Secrets) to that Secret: when either is deleted
    /// (or recreated with a new uid / token) the token no longer authenticates, as with
    /// kube-apiserver's ServiceAccount token authenticator.
    async fn store_token(
        &self,
        tok: &str,
        ns: &str,
        name: &str,
        exp: Option<String>,
        sa_uid: &Value,
        secret: Option<&str>,
    ) -> Result<()> {
        let rec =
            json!({"namespace": ns, "name": name, "exp": exp, "uid": sa_uid, "secret": secret});
        self.cfg
            .etcd
            .put(
                &format!(
                    "/registry/kube-emu/tokens/{}",
                    pki::sha256_hex(tok.as_bytes())
                ),
                &serde_json::to_vec(&rec)?,
            )
            .await?;
        Ok(())
    }

    // ----- request entry ------------------------------------------------------------

    pub async fn handle(self: Arc<Self>, req: Request<Incoming>, peer: Option<User>) -> Resp {
        let path = req.uri().path().to_string();
        let query = Query::parse(req.uri().query());
        let method = req.method().clone();
        let ct = req
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let ua = req
            .headers()
            .get("user-agent")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let accept = req
            .headers()
            .get("accept")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let user = self.authenticate(&req, peer.as_ref()).await;
        let anonymous_ok = matches!(
            path.as_str(),
            "/version" | "/healthz" | "/livez" | "/readyz" | "/cacerts"
        ) || (method == Method::GET
            && path == "/api/v1/namespaces/kube-public/configmaps/cluster-info");
        if user.is_none() && !anonymous_ok {
            return err_resp(ApiError::new(401, "Unauthorized", "Unauthorized"));
        }
        let body = match http_body_util::Limited::new(req.into_body(), MAX_BODY)
            .collect()
            .await
        {
            Ok(b) => b.to_bytes(),
            Err(_) => {
                return err_resp(ApiError::new(
                    413,
                    "RequestEntityTooLarge",
                    "request body too large",
                ));
            }
        };
        let ctx = Ctx {
            method,
            query,
            ct,
            ua,
            accept,
            body,
            user,
        };
        match self.route(&path, &ctx).await {
            Ok(r) => r,
            Err(e) => err_resp(e),
        }
    }

    async fn route(self: &Arc<Self>, path: &str, ctx: &Ctx) -> ApiResult<Resp> {
        let segs: Vec<&str> = path
            .trim_matches('/')
            .split('/')
            .filter(|s| !s.is_empty())
            .collect();
        let get = ctx.method == Method::GET;
        match segs.as_slice() {
            ["version"] if get => Ok(json_resp(
                200,
                &json!({"major": "1", "minor": "32",
                "gitVersion": "v1.32.0+kube-emu", "gitCommit": "0000000000000000000000000000000000000000",
                "gitTreeState": "clean", "buildDate": "2024-12-11T00:00:00Z", "goVersion": "go1.23.3",
                "compiler": "gc", "platform": "linux/amd64", "emulator": "kube-emu"}),
            )),
            ["healthz" | "livez" | "readyz"] => {
                self.cfg
                    .etcd
                    .revision()
                    .await
                    .map_err(|e| ApiError::new(500, "InternalError", format!("etcd: {e}")))?;
                let mut r = Response::new(full("ok"));
                r.headers_mut()
                    .insert("content-type", "text/plain".parse().expect("h"));
                Ok(r)
            }
            ["cacerts"] if get => Ok(Response::new(full(self.cfg.ca_pem.clone()))),
            ["v1-k3s", "server-bootstrap"] if get => {
                if ctx.user.as_ref().map(|u| u.name.as_str()) != Some("k3s-server") {
                    return Err(ApiError::new(401, "Unauthorized", "Unauthorized"));
                }
                let kv = self
                    .cfg
                    .etcd
                    .get("/registry/kube-emu/k3s-bootstrap")
                    .await?
                    .ok_or_else(|| ApiError::new(404, "NotFound", "no bootstrap data"))?;
                Ok(json_resp(
                    200,
                    &serde_json::from_slice(&kv.value).unwrap_or(Value::Null),
                ))
            }
            ["api"] if get => Ok(json_resp(
                200,
                &json!({"kind": "APIVersions", "versions": ["v1"],
                "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": self.cfg.advertise}]}),
            )),
            ["apis"] if get => Ok(json_resp(200, &resources::group_list())),
            ["api", "v1"] if get => Ok(json_resp(
                200,
                &resources::resource_list("", "v1").expect("core"),
            )),
            ["apis", g] if get && resources::GROUPS.contains(g) => {
                let mut v = resources::group(g);
                v["kind"] = json!("APIGroup");
                v["apiVersion"] = json!("v1");
                Ok(json_resp(200, &v))
            }
            ["apis", g, v] if get => resources::resource_list(g, v)
                .map(|l| json_resp(200, &l))
                .ok_or_else(|| {
                    ApiError::new(
                        404,
                        "NotFound",
                        "the server could not find the requested resource",
                    )
                }),
            ["api", "v1", rest @ ..] => self.resource("", "v1", rest, ctx).await,
            ["apis", g, v, rest @ ..] => self.resource(g, v, rest, ctx).await,
            _ => Err(ApiError::new(
                404,
                "NotFound",
                "the server could not find the requested resource",
            )),
        }
    }

    async fn resource(
        self: &Arc<Self>,
        group: &str,
        version: &str,
        rest: &[&str],
        ctx: &Ctx,
    ) -> ApiResult<Resp> {
        let nf = || {
            ApiError::new(
                404,
                "NotFound",
                "the server could not find the requested resource",
            )
        };
        let (ns, rest) = match rest {
            ["namespaces", ns, tail @ ..]
                if !(tail.is_empty()
                    || group.is_empty() && matches!(tail, ["status" | "finalize"])) =>
            {
                (Some(ns.to_string()), tail)
            }
            _ => (None, rest),
        };
        let (plural, name, sub) = match rest {
            [p] => (*p, None, None),
            [p, n] => (*p, Some(n.to_string()), None),
            [p, n, s] => (*p, Some(n.to_string()), Some(s.to_string())),
            _ => return Err(nf()),
        };
        let res = resources::find(group, version, plural).ok_or_else(nf)?;
        if ns.is_some() && !res.namespaced {
            return Err(nf());
        }
        if let Some(s) = &sub
            && !res.subresources.contains(&s.as_str())
        {
            return Err(nf());
        }
        if res.namespaced && name.is_some() && ns.is_none() {
            return Err(nf());
        }
        let t = Target { res, ns, name, sub };
        let m = &ctx.method;
        match (&t.name, t.sub.as_deref()) {
            (None, _) if *m == Method::GET => {
                if ctx.query.flag("watch") {
                    self.watch(&t, ctx).await
                } else {
                    self.list(&t, ctx).await
                }
            }
            (None, _) if *m == Method::POST => self.create(&t, ctx).await,
            (None, _) if *m == Method::DELETE => self.delete_collection(&t, ctx).await,
            (Some(n), None | Some("status")) if *m == Method::GET => {
                let kv = self
                    .cfg
                    .etcd
                    .get(&t.key(n))
                    .await?
                    .ok_or_else(|| ApiError::not_found(res, n))?;
                if wants_table(ctx) {
                    return Ok(json_resp(
                        200,
                        &crate::table::table(res, &[decode(&kv)], kv.mod_revision),
                    ));
                }
                Ok(json_resp(200, &decode(&kv)))
            }
            (Some(n), None | Some("status") | Some("finalize")) if *m == Method::PUT => {
                self.update(&t, n, ctx).await
            }
            (Some(n), None | Some("status")) if *m == Method::PATCH => self.patch(&t, n, ctx).await,
            (Some(n), None) if *m == Method::DELETE => self.delete(&t, n, ctx).await,
            (Some(n), Some("eviction")) if *m == Method::POST => self.evict(&t, n, ctx).await,
            (Some(n), Some("token")) if *m == Method::POST => self.token_request(&t, n, ctx).await,
            _ => Err(ApiError::new(
                405,
                "MethodNotAllowed",
                "the server does not allow this method on the requested resource".to_string(),
            )),
        }
    }

    // ----- reads ----------------------------------------------------------------------

    fn filters(&self, ctx: &Ctx) -> ApiResult<(Vec<Req>, Vec<Req>)> {
        let ls = parse_selector(ctx.query.get("labelSelector").unwrap_or(""))
            .map_err(ApiError::bad_request)?;
        let fs = parse_selector(ctx.query.get("fieldSelector").unwrap_or(""))
            .map_err(ApiError::bad_request)?;
        for r in &fs {
            if matches!(
                r,
                Req::In(..) | Req::NotIn(..) | Req::Exists(_) | Req::NotExists(_)
            ) {
                return Err(ApiError::bad_request(
                    "invalid field selector: only =, == and != are supported",
                ));
            }
        }
        Ok((ls, fs))
    }

    async fn list(&self, t: &Target, ctx: &Ctx) -> ApiResult<Resp> {
        let (ls, fs) = self.filters(ctx)?;
        let (kvs, rev) = self.cfg.etcd.list(&t.prefix()).await?;
        let items: Vec<Value> = kvs
            .iter()
            .map(decode)
            .filter(|o| {
                selector_matches(&ls, |k| label_of(o, k))
                    && selector_matches(&fs, |k| field_of(o, k))
            })
            .map(|mut o| {
                if let Some(m) = o.as_object_mut() {
                    m.remove("kind");
                    m.remove("apiVersion");
                }
                o
            })
            .collect();
        if wants_table(ctx) {
            return Ok(json_resp(200, &crate::table::table(t.res, &items, rev)));
        }
        Ok(json_resp(
            200,
            &json!({"kind": format!("{}List", t.res.kind), "apiVersion": t.res.api_version(),
            "metadata": {"resourceVersion": rev.to_string()}, "items": items}),
        ))
    }

    async fn watch(&self, t: &Target, ctx: &Ctx) -> ApiResult<Resp> {
        let (ls, fs) = self.filters(ctx)?;
        let rv: i64 = match ctx.query.get("resourceVersion") {
            None | Some("") | Some("0") => 0,
            Some(s) => s
                .parse()
                .map_err(|_| ApiError::bad_request(format!("invalid resourceVersion {s:?}")))?,
        };
        let mut initial = Vec::new();
        let start = if rv == 0 {
            let (kvs, rev) = self.cfg.etcd.list(&t.prefix()).await?;
            initial = kvs.iter().map(decode).collect();
            rev + 1
        } else {
            rv + 1
        };
        let mut events = self.cfg.etcd.watch(&t.prefix(), start).await?;
        let timeout = ctx
            .query
            .get("timeoutSeconds")
            .and_then(|s| s.parse::<u64>().ok())
            .unwrap_or(1800);
        let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(64);
        let kind = t.res.kind;
        let api_version = t.res.api_version();
        let matches = move |o: &Value| {
            selector_matches(&ls, |k| label_of(o, k)) && selector_matches(&fs, |k| field_of(o, k))
        };
        tokio::spawn(async move {
            let line = |ty: &str, mut o: Value| {
                o["kind"] = json!(kind);
                o["apiVersion"] = json!(api_version);
                let mut b =
                    serde_json::to_vec(&json!({"type": ty, "object": o})).unwrap_or_default();
                b.push(b'\n');
                Bytes::from(b)
            };
            for o in initial.into_iter().filter(|o| matches(o)) {
                if tx.send(line("ADDED", o)).await.is_err() {
                    return;
                }
            }
            let deadline = tokio::time::sleep(Duration::from_secs(timeout));
            tokio::pin!(deadline);
            loop {
                let ev = tokio::select! {
                    e = events.recv() => e,
                    _ = &mut deadline => return,
                    _ = tx.closed() => return,
                };
                let out = match ev {
                    Some(Ok(WatchEvent::Put { kv })) => {
                        let o = decode(&kv);
                        let ty = if kv.create_revision == kv.mod_revision {
                            "ADDED"
                        } else {
                            "MODIFIED"
                        };
                        matches(&o).then(|| line(ty, o))
                    }
                    Some(Ok(WatchEvent::Delete { kv, prev })) => prev
                        .map(|p| {
                            let mut o = decode(&p);
                            set_rv(&mut o, kv.mod_revision);
                            o
                        })
                        .filter(|o| matches(o))
                        .map(|o| line("DELETED", o)),
                    Some(Err(e)) => Some(line(
                        "ERROR",
                        ApiError::new(410, "Expired", format!("{e:#}")).body(),
                    )),
                    None => return,
                };
                if let Some(b) = out
                    && tx.send(b).await.is_err()
                {
                    return;
                }
            }
        });
        let stream = futures_util::stream::unfold(rx, |mut rx| async move {
            rx.recv()
                .await
                .map(|b| (Ok::<_, Infallible>(Frame::data(b)), rx))
        });
        let mut r = Response::new(StreamBody::new(stream).boxed_unsync());
        r.headers_mut()
            .insert("content-type", "application/json".parse().expect("h"));
        r.headers_mut()
            .insert("transfer-encoding", "chunked".parse().expect("h"));
        Ok(r)
    }

    // ----- writes ---------------------------------------------------------------------

    async fn ns_exists(&self, ns: &str) -> ApiResult<()> {
        let nsres = res_of("namespaces");
        match self.cfg.etcd.get(&obj_key(nsres, None, ns)).await? {
            Some(kv) if decode(&kv)["status"]["phase"] != "Terminating" => Ok(()),
            Some(_) => Err(ApiError::new(
                403,
                "Forbidden",
                format!(
                    "unable to create new content in namespace {ns} because it is being terminated"
                ),
            )),
            None => Err(ApiError::not_found(nsres, ns)),
        }
    }

    fn check_kind(&self, t: &Target, obj: &mut Value) -> ApiResult<()> {
        check_shape(t.res, obj)?;
        if !obj.is_object() {
            return Err(ApiError::bad_request(
                "the request body must be a JSON object",
            ));
        }
        let av = t.res.api_version();
        match (obj["apiVersion"].as_str(), obj["kind"].as_str()) {
            (Some(a), Some(k)) if a != av || k != t.res.kind => {
                return Err(ApiError::bad_request(format!("the API version in the data ({a}) does not match the expected API version ({av})")
                    .replace(&format!("({a})"), &format!("({a}, kind {k})"))));
            }
            _ => {}
        }
        obj["apiVersion"] = json!(av);
        obj["kind"] = json!(t.res.kind);
        if !obj["metadata"].is_object() {
            if obj["metadata"].is_null() {
                obj["metadata"] = json!({});
            } else {
                return Err(ApiError::bad_request("metadata must be an object"));
            }
        }
        match (&t.ns, obj["metadata"]["namespace"].as_str()) {
            (Some(ns), Some(o)) if o != ns => {
                return Err(ApiError::bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request",
                ));
            }
            (Some(ns), _) => obj["metadata"]["namespace"] = json!(ns),
            (None, _) => {
                if let Some(m) = obj["metadata"].as_object_mut() {
                    m.remove("namespace");
                }
            }
        }
        Ok(())
    }

    fn manager(&self, ctx: &Ctx, default: &str) -> String {
        ctx.query
            .get("fieldManager")
            .map(String::from)
            .unwrap_or_else(|| {
                let ua = ctx.ua.split('/').next().unwrap_or("");
                if ua.is_empty() {
                    default.to_string()
                } else {
                    ua.to_string()
                }
            })
    }

    async fn create(self: &Arc<Self>, t: &Target, ctx: &Ctx) -> ApiResult<Resp> {
        let mut obj = parse_body(&ctx.ct, &ctx.body)?;
        self.check_kind(t, &mut obj)?;
        if t.ns.is_none() && t.res.namespaced {
            return Err(ApiError::new(
                404,
                "NotFound",
                "the server could not find the requested resource",
            ));
        }
        if obj["metadata"]["name"].as_str().unwrap_or("").is_empty()
            && let Some(g) = obj["metadata"]["generateName"].as_str()
        {
            obj["metadata"]["name"] = json!(format!("{g}{}", pki::random_alnum(5)));
        }
        if let Some(ns) = &t.ns {
            self.ns_exists(ns).await?;
        }
        let name = name_of(&obj).to_string();
        self.stamp_new(&mut obj);
        defaults(t.res, &mut obj);
        validate(t.res, &obj)?;
        if t.res.plural == "secrets" {
            self.fill_sa_token_secret(&mut obj).await?;
        }
        let mgr = self.manager(ctx, "unknown");
        record_update(&mut obj, None, &mgr, &t.res.api_version());
        if ctx.query.get("dryRun") == Some("All") {
            return Ok(json_resp(201, &obj));
        }
        let rev = self
            .cfg
            .etcd
            .create(&t.key(&name), &encode(&obj))
            .await?
            .ok_or_else(|| ApiError::already_exists(t.res, &name))?;
        set_rv(&mut obj, rev);
        self.after_write(t.res, &obj).await?;
        Ok(json_resp(201, &obj))
    }

    async fn update(self: &Arc<Self>, t: &Target, name: &str, ctx: &Ctx) -> ApiResult<Resp> {
        let mut obj = parse_body(&ctx.ct, &ctx.body)?;
        self.check_kind(t, &mut obj)?;
        if name_of(&obj) != name {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({}) does not match the name on the URL ({name})",
                name_of(&obj)
            )));
        }
        let key = t.key(name);
        let kv = self
            .cfg
            .etcd
            .get(&key)
            .await?
            .ok_or_else(|| ApiError::not_found(t.res, name))?;
        if let Some(rv) = obj["metadata"]["resourceVersion"].as_str()
            && !rv.is_empty()
            && rv != kv.mod_revision.to_string()
        {
            return Err(ApiError::conflict(t.res, name));
        }
        let old = decode(&kv);
        let new = self.merge_update(t, &old, obj, ctx)?;
        self.store_update(t, name, &key, &old, new, kv.mod_revision, 200)
            .await
    }

    /// Apply the status-subresource split and keep the immutable metadata.
    fn merge_update(&self, t: &Target, old: &Value, mut obj: Value, ctx: &Ctx) -> ApiResult<Value> {
        let status_sub = t.res.subresources.contains(&"status");
        match t.sub.as_deref() {
            Some("status") => {
                let mut n = old.clone();
                n["status"] = obj["status"].clone();
                obj = n;
            }
            Some("finalize") => {
                let mut n = old.clone();
                n["spec"]["finalizers"] = obj["spec"]["finalizers"].clone();
                obj = n;
            }
            _ if status_sub => obj["status"] = old["status"].clone(),
            _ => {}
        }
        for k in [
            "uid",
            "creationTimestamp",
            "deletionTimestamp",
            "namespace",
            "name",
        ] {
            if old["metadata"].get(k).is_some() {
                obj["metadata"][k] = old["metadata"][k].clone();
            }
        }
        if obj["status"].is_null()
            && let Some(m) = obj.as_object_mut()
        {
            m.remove("status");
        }
        if old["metadata"].get("managedFields").is_some()
            && obj["metadata"].get("managedFields").is_none()
        {
            obj["metadata"]["managedFields"] = old["metadata"]["managedFields"].clone();
        }
        let mgr = self.manager(ctx, "unknown");
        record_update(&mut obj, Some(old), &mgr, &t.res.api_version());
        Ok(obj)
    }

    #[allow(clippy::too_many_arguments)]
    async fn store_update(
        self: &Arc<Self>,
        t: &Target,
        name: &str,
        key: &str,
        old: &Value,
        mut obj: Value,
        mod_rev: i64,
        code: u16,
    ) -> ApiResult<Resp> {
        validate(t.res, &obj)?;
        validate_immutable(t.res, old, &obj)?;
        if obj == *old {
            return Ok(json_resp(code, old));
        }
        let rev = self
            .cfg
            .etcd
            .update(key, &encode(&obj), mod_rev)
            .await?
            .ok_or_else(|| ApiError::conflict(t.res, name))?;
        set_rv(&mut obj, rev);
        if obj["metadata"]["deletionTimestamp"].is_string()
            && obj["metadata"]["finalizers"]
                .as_array()
                .is_none_or(|f| f.is_empty())
        {
            self.cfg.etcd.delete(key, rev).await?;
            self.after_delete(t.res, &obj).await?;
            return Ok(json_resp(code, &obj));
        }
        self.after_write(t.res, &obj).await?;
        Ok(json_resp(code, &obj))
    }

    async fn patch(self: &Arc<Self>, t: &Target, name: &str, ctx: &Ctx) -> ApiResult<Resp> {
        let ct = ctx.ct.split(';').next().unwrap_or("").trim().to_string();
        let patch = parse_body(&ctx.ct, &ctx.body)?;
        let key = t.key(name);
        for _ in 0..10 {
            let kv = self.cfg.etcd.get(&key).await?;
            if ct == "application/apply-patch+yaml" {
                let mgr = ctx
                    .query
                    .get("fieldManager")
                    .filter(|m| !m.is_empty())
                    .ok_or_else(|| {
                        ApiError::invalid(
                            t.res,
                            name,
                            vec![(
                                "fieldManager",
                                "FieldValueRequired",
                                "Required value: is required for apply patch".into(),
                            )],
                        )
                    })?;
                let r = self
                    .apply(t, name, &key, kv, &patch, mgr, ctx.query.flag("force"))
                    .await;
                match r {
                    Err(e)
                        if e.reason == "Conflict"
                            && e.details
                                .as_ref()
                                .is_some_and(|d| d.get("causes").is_none()) =>
                    {
                        continue;
                    }
                    Err(e) if e.reason == "AlreadyExists" => continue,
                    other => return other,
                }
            }
            let kv = kv.ok_or_else(|| ApiError::not_found(t.res, name))?;
            let old = decode(&kv);
            let mut obj = old.clone();
            match ct.as_str() {
                "application/merge-patch+json" | "application/strategic-merge-patch+json" => {
                    if !patch.is_object() {
                        return Err(ApiError::bad_request("a merge patch must be a JSON object"));
                    }
                    merge_patch(&mut obj, &patch);
                }
                "application/json-patch+json" => json_patch(&mut obj, &patch).map_err(|e| {
                    ApiError::new(
                        422,
                        "Invalid",
                        format!(
                            "the server rejected our request due to an error in our request: {e}"
                        ),
                    )
                })?,
                other => {
                    return Err(ApiError::new(
                        415,
                        "UnsupportedMediaType",
                        format!(
                            "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json (got {other:?})"
                        ),
                    ));
                }
            }
            if let Some(rv) = patch["metadata"]["resourceVersion"].as_str()
                && rv != kv.mod_revision.to_string()
            {
                return Err(ApiError::conflict(t.res, name));
            }
            let mut obj_t = obj;
            obj_t["apiVersion"] = json!(t.res.api_version());
            obj_t["kind"] = json!(t.res.kind);
            check_shape(t.res, &obj_t)?;
            let new = self.merge_update(t, &old, obj_t, ctx)?;
            match self
                .store_update(t, name, &key, &old, new, kv.mod_revision, 200)
                .await
            {
                Err(e)
                    if e.reason == "Conflict" && patch["metadata"]["resourceVersion"].is_null() =>
                {
                    continue;
                }
                other => return other,
            }
        }
        Err(ApiError::conflict(t.res, name))
    }

    #[allow(clippy::too_many_arguments)]
    async fn apply(
        self: &Arc<Self>,
        t: &Target,
        name: &str,
        key: &str,
        kv: Option<Kv>,
        applied: &Value,
        mgr: &str,
        force: bool,
    ) -> ApiResult<Resp> {
        let mut applied = applied.clone();
        self.check_kind(t, &mut applied)?;
        if name_of(&applied) != name {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({}) does not match the name on the URL ({name})",
                name_of(&applied)
            )));
        }
        if applied["metadata"]
            .get("managedFields")
            .is_some_and(|m| !m.is_null())
        {
            return Err(ApiError::bad_request("metadata.managedFields must be nil"));
        }
        let mut new_paths = BTreeSet::new();
        leaf_paths(&applied, &mut vec![], &mut new_paths);
        let av = t.res.api_version();
        let Some(kv) = kv else {
            // Apply on a missing object creates it.
            if let Some(ns) = &t.ns {
                self.ns_exists(ns).await?;
            }
            let mut obj = applied;
            self.stamp_new(&mut obj);
            defaults(t.res, &mut obj);
            validate(t.res, &obj)?;
            if t.res.plural == "secrets" {
                // The token controller's fields belong to no applier.
                self.fill_sa_token_secret(&mut obj).await?;
            }
            obj["metadata"]["managedFields"] = json!([mf_entry(mgr, "Apply", &av, &new_paths)]);
            let rev = self
                .cfg
                .etcd
                .create(key, &encode(&obj))
                .await?
                .ok_or_else(|| ApiError::already_exists(t.res, name))?;
            set_rv(&mut obj, rev);
            self.after_write(t.res, &obj).await?;
            return Ok(json_resp(201, &obj));
        };
        let old = decode(&kv);
        let mut entries: Vec<Value> = old["metadata"]["managedFields"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let mut conflicts = Vec::new();
        let mut prev_mine = BTreeSet::new();
        for e in entries.iter_mut() {
            let mut paths = BTreeSet::new();
            fields_v1_to_paths(&e["fieldsV1"], &mut vec![], &mut paths);
            let mine =
                e["manager"].as_str() == Some(mgr) && e["operation"].as_str() == Some("Apply");
            if mine {
                prev_mine = paths;
                continue;
            }
            let mut keep = BTreeSet::new();
            for p in paths {
                let clash = new_paths
                    .iter()
                    .find(|np| overlaps(np, &p) && get_path(&old, np) != get_path(&applied, np));
                match clash {
                    Some(np) if !force => conflicts.push((
                        e["manager"].as_str().unwrap_or("").to_string(),
                        format!(".{}", np.join(".")),
                    )),
                    Some(_) => {}
                    None => {
                        keep.insert(p);
                    }
                }
            }
            e["fieldsV1"] = paths_to_fields_v1(&keep);
        }
        if !conflicts.is_empty() {
            conflicts.sort();
            conflicts.dedup();
            let n = conflicts.len();
            let msg = format!(
                "Apply failed with {n} conflict{}: {}",
                if n == 1 { "" } else { "s" },
                conflicts
                    .iter()
                    .map(|(m, f)| format!("conflict with \"{m}\": {f}"))
                    .collect::<Vec<_>>()
                    .join("\n")
            );
            let mut e = ApiError::new(409, "Conflict", msg);
            e.details = Some(
                json!({"name": name, "group": t.res.group, "kind": t.res.plural,
                "causes": conflicts.iter().map(|(m, f)| json!({"reason": "FieldManagerConflict", "message": format!("conflict with \"{m}\""), "field": f})).collect::<Vec<_>>()}),
            );
            return Err(e);
        }
        let mut obj = old.clone();
        // Fields this manager applied before and no longer applies are removed, unless
        // another manager also owns them.
        let others: BTreeSet<Vec<String>> = entries
            .iter()
            .filter(|e| {
                !(e["manager"].as_str() == Some(mgr) && e["operation"].as_str() == Some("Apply"))
            })
            .flat_map(|e| {
                let mut p = BTreeSet::new();
                fields_v1_to_paths(&e["fieldsV1"], &mut vec![], &mut p);
                p
            })
            .collect();
        for p in prev_mine.difference(&new_paths) {
            if !others.iter().any(|o| overlaps(o, p)) {
                remove_path(&mut obj, p);
            }
        }
        let mut a = applied.clone();
        if let Some(m) = a["metadata"].as_object_mut() {
            m.retain(|k, _| {
                matches!(
                    k.as_str(),
                    "labels" | "annotations" | "finalizers" | "ownerReferences"
                )
            });
        }
        if let Some(m) = a.as_object_mut() {
            m.remove("status");
        }
        apply_merge(&mut obj, &a);
        entries.retain(|e| {
            !(e["manager"].as_str() == Some(mgr) && e["operation"].as_str() == Some("Apply"))
                && e["fieldsV1"].as_object().is_some_and(|m| !m.is_empty())
        });
        entries.push(mf_entry(mgr, "Apply", &av, &new_paths));
        obj["metadata"]["managedFields"] = json!(entries);
        validate(t.res, &obj)?;
        validate_immutable(t.res, &old, &obj)?;
        if obj == old {
            return Ok(json_resp(200, &old));
        }
        let rev = self
            .cfg
            .etcd
            .update(key, &encode(&obj), kv.mod_revision)
            .await?
            .ok_or_else(|| ApiError::new(409, "Conflict", "object changed during apply"))?;
        set_rv(&mut obj, rev);
        self.after_write(t.res, &obj).await?;
        Ok(json_resp(200, &obj))
    }

    async fn delete(self: &Arc<Self>, t: &Target, name: &str, ctx: &Ctx) -> ApiResult<Resp> {
        let opts: Value = if ctx.body.is_empty() {
            json!({})
        } else {
            parse_body(&ctx.ct, &ctx.body)?
        };
        let key = t.key(name);
        for _ in 0..10 {
            let kv = self
                .cfg
                .etcd
                .get(&key)
                .await?
                .ok_or_else(|| ApiError::not_found(t.res, name))?;
            let mut obj = decode(&kv);
            let pre = &opts["preconditions"];
            if let Some(uid) = pre["uid"].as_str()
                && obj["metadata"]["uid"].as_str() != Some(uid)
            {
                let mut e = ApiError::conflict(t.res, name);
                e.message = format!(
                    "Operation cannot be fulfilled on {} \"{name}\": Precondition failed: UID in precondition: {uid}, UID in object meta: {}",
                    t.res.qualified(),
                    obj["metadata"]["uid"].as_str().unwrap_or("")
                );
                return Err(e);
            }
            if let Some(rv) = pre["resourceVersion"].as_str()
                && rv != kv.mod_revision.to_string()
            {
                return Err(ApiError::conflict(t.res, name));
            }
            if ctx.query.get("dryRun") == Some("All") {
                return Ok(json_resp(200, &obj));
            }
            let has_finalizers = obj["metadata"]["finalizers"]
                .as_array()
                .is_some_and(|f| !f.is_empty());
            if has_finalizers {
                if obj["metadata"]["deletionTimestamp"].is_null() {
                    obj["metadata"]["deletionTimestamp"] = json!(now_rfc3339());
                    obj["metadata"]["deletionGracePeriodSeconds"] = json!(0);
                    match self
                        .cfg
                        .etcd
                        .update(&key, &encode(&obj), kv.mod_revision)
                        .await?
                    {
                        Some(rev) => set_rv(&mut obj, rev),
                        None => continue,
                    }
                }
                return Ok(json_resp(200, &obj));
            }
            if t.res.plural == "namespaces" {
                obj["status"]["phase"] = json!("Terminating");
                obj["metadata"]["deletionTimestamp"] = json!(now_rfc3339());
                let Some(rev) = self
                    .cfg
                    .etcd
                    .update(&key, &encode(&obj), kv.mod_revision)
                    .await?
                else {
                    continue;
                };
                set_rv(&mut obj, rev);
                self.purge_namespace(name).await?;
                self.cfg.etcd.delete_key(&key).await?;
                return Ok(json_resp(200, &obj));
            }
            if self.cfg.etcd.delete(&key, kv.mod_revision).await?.is_none() {
                continue;
            }
            self.after_delete(t.res, &obj).await?;
            return Ok(json_resp(200, &obj));
        }
        Err(ApiError::conflict(t.res, name))
    }

    async fn delete_collection(self: &Arc<Self>, t: &Target, ctx: &Ctx) -> ApiResult<Resp> {
        let (ls, fs) = self.filters(ctx)?;
        let (kvs, rev) = self.cfg.etcd.list(&t.prefix()).await?;
        let mut items = Vec::new();
        for kv in kvs {
            let o = decode(&kv);
            if selector_matches(&ls, |k| label_of(&o, k))
                && selector_matches(&fs, |k| field_of(&o, k))
                && self
                    .cfg
                    .etcd
                    .delete(&kv.key, kv.mod_revision)
                    .await?
                    .is_some()
            {
                self.after_delete(t.res, &o).await?;
                items.push(o);
            }
        }
        Ok(json_resp(
            200,
            &json!({"kind": format!("{}List", t.res.kind), "apiVersion": t.res.api_version(),
            "metadata": {"resourceVersion": rev.to_string()}, "items": items}),
        ))
    }

    async fn purge_namespace(self: &Arc<Self>, ns: &str) -> ApiResult<()> {
        for r in resources::RESOURCES.iter().filter(|r| r.namespaced) {
            let prefix = format!("/registry/{}/{}/", r.etcd, ns);
            let (kvs, _) = self.cfg.etcd.list(&prefix).await?;
            for kv in kvs {
                if self
                    .cfg
                    .etcd
                    .delete(&kv.key, kv.mod_revision)
                    .await?
                    .is_some()
                {
                    self.after_delete(r, &decode(&kv)).await?;
                }
            }
        }
        Ok(())
    }

    // ----- subresources ---------------------------------------------------------------

    async fn evict(self: &Arc<Self>, t: &Target, name: &str, ctx: &Ctx) -> ApiResult<Resp> {
        let ev = parse_body(&ctx.ct, &ctx.body)?;
        if ev["kind"].as_str().is_some_and(|k| k != "Eviction") {
            return Err(ApiError::bad_request("the body must be an Eviction"));
        }
        if ev["metadata"]["name"].as_str().is_some_and(|n| n != name) {
            return Err(ApiError::bad_request(
                "name in URL does not match name in Eviction object".to_string(),
            ));
        }
        let ns = t.ns.clone().unwrap_or_default();
        let key = t.key(name);
        let kv = self
            .cfg
            .etcd
            .get(&key)
            .await?
            .ok_or_else(|| ApiError::not_found(t.res, name))?;
        let pod = decode(&kv);
        let terminal = matches!(
            pod["status"]["phase"].as_str(),
            Some("Succeeded" | "Failed")
        );
        if !terminal {
            let pdbres = res_of("poddisruptionbudgets");
            let (pdbs, _) = self
                .cfg
                .etcd
                .list(&format!("/registry/{}/{}/", pdbres.etcd, ns))
                .await?;
            let (pods, _) = self.cfg.etcd.list(&format!("/registry/pods/{ns}/")).await?;
            let pods: Vec<Value> = pods.iter().map(decode).collect();
            for pdb in pdbs.iter().map(decode) {
                let sel = &pdb["spec"]["selector"];
                if !label_selector_matches(sel, &pod) {
                    continue;
                }
                let matching: Vec<&Value> = pods
                    .iter()
                    .filter(|p| label_selector_matches(sel, p))
                    .collect();
                let expected = matching.len() as i64;
                let healthy = matching.iter().filter(|p| pod_healthy(p)).count() as i64;
                let pct = |v: &Value| -> Option<i64> {
                    match v {
                        Value::Number(n) => n.as_i64(),
                        Value::String(s) => s
                            .strip_suffix('%')
                            .and_then(|x| x.parse::<i64>().ok())
                            .map(|p| (expected * p + 99) / 100),
                        _ => None,
                    }
                };
                let desired = if let Some(m) = pct(&pdb["spec"]["minAvailable"]) {
                    m
                } else if let Some(u) = pct(&pdb["spec"]["maxUnavailable"]) {
                    expected - u
                } else {
                    continue;
                };
                if healthy - desired <= 0 || !pod_healthy(&pod) && healthy - desired < 0 {
                    let mut e = ApiError::new(
                        429,
                        "TooManyRequests",
                        "Cannot evict pod as it would violate the pod's disruption budget.",
                    );
                    e.details = Some(json!({"causes": [{"reason": "DisruptionBudget",
                        "message": format!("The disruption budget {} needs {} healthy pods and has {} currently", name_of(&pdb), desired, healthy)}]}));
                    return Err(e);
                }
            }
        }
        if self.cfg.etcd.delete(&key, kv.mod_revision).await?.is_none() {
            return Err(ApiError::conflict(t.res, name));
        }
        Ok(json_resp(
            201,
            &json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}),
        ))
    }

    async fn token_request(self: &Arc<Self>, t: &Target, name: &str, ctx: &Ctx) -> ApiResult<Resp> {
        let mut tr = parse_body(&ctx.ct, &ctx.body)?;
        if !tr.is_object() || !(tr["spec"].is_object() || tr["spec"].is_null()) {
            return Err(ApiError::bad_request(
                "the body must be a TokenRequest object",
            ));
        }
        let ns = t.ns.clone().unwrap_or_default();
        let kv = self
            .cfg
            .etcd
            .get(&t.key(name))
            .await?
            .ok_or_else(|| ApiError::not_found(t.res, name))?;
        let sa = decode(&kv);
        let secs = tr["spec"]["expirationSeconds"].as_i64().unwrap_or(3600);
        if secs < 600 {
            let mut e = ApiError::new(
                422,
                "Invalid",
                format!(
                    "TokenRequest.authentication.k8s.io \"{name}\" is invalid: spec.expirationSeconds: Invalid value: {secs}: may not specify a duration less than 10 minutes"
                ),
            );
            e.details = Some(
                json!({"name": name, "group": "authentication.k8s.io", "kind": "TokenRequest",
                "causes": [{"reason": "FieldValueInvalid", "message": format!("Invalid value: {secs}: may not specify a duration less than 10 minutes"), "field": "spec.expirationSeconds"}]}),
            );
            return Err(e);
        }
        let token = new_sa_token();
        let exp = rfc3339_after(secs);
        self.store_token(
            &token,
            &ns,
            name,
            Some(exp.clone()),
            &sa["metadata"]["uid"],
            None,
        )
        .await?;
        tr["apiVersion"] = json!("authentication.k8s.io/v1");
        tr["kind"] = json!("TokenRequest");
        tr["metadata"] = json!({"name": name, "namespace": ns, "creationTimestamp": now_rfc3339()});
        tr["spec"]["expirationSeconds"] = json!(secs);
        if tr["spec"]["audiences"].is_null() {
            tr["spec"]["audiences"] = json!(["https://kubernetes.default.svc.cluster.local"]);
        }
        tr["spec"]["boundObjectRef"] = tr["spec"]
            .get("boundObjectRef")
            .cloned()
            .unwrap_or(Value::Null);
        tr["status"] = json!({"token": token, "expirationTimestamp": exp});
        Ok(json_resp(201, &tr))
    }

    /// The token controller's job for `kubernetes.io/service-account-token` secrets.
    async fn fill_sa_token_secret(&self, obj: &mut Value) -> ApiResult<()> {
        if obj["type"].as_str() != Some("kubernetes.io/service-account-token") {
            return Ok(());
        }
        let ns = obj["metadata"]["namespace"]
            .as_str()
            .unwrap_or("")
            .to_string();
        let sa = obj["metadata"]["annotations"]["kubernetes.io/service-account.name"]
            .as_str()
            .unwrap_or("")
            .to_string();
        let sares = res_of("serviceaccounts");
        let Some(kv) = self.cfg.etcd.get(&obj_key(sares, Some(&ns), &sa)).await? else {
            return Err(ApiError::invalid(
                res_of("secrets"),
                name_of(obj),
                vec![(
                    "metadata.annotations[kubernetes.io/service-account.name]",
                    "FieldValueInvalid",
                    format!("Invalid value: {sa:?}: serviceaccount not found"),
                )],
            ));
        };
        let token = new_sa_token();
        let sa_uid = decode(&kv)["metadata"]["uid"].clone();
        self.store_token(&token, &ns, &sa, None, &sa_uid, Some(name_of(obj)))
            .await?;
        obj["metadata"]["annotations"]["kubernetes.io/service-account.uid"] = sa_uid;
        if !obj["data"].is_object() {
            obj["data"] = json!({});
        }
        obj["data"]["token"] = json!(B64.encode(&token));
        obj["data"]["ca.crt"] = json!(B64.encode(&self.cfg.ca_pem));
        obj["data"]["namespace"] = json!(B64.encode(&ns));
        Ok(())
    }

    // ----- controllers ----------------------------------------------------------------

    async fn after_write(self: &Arc<Self>, res: &Res, obj: &Value) -> ApiResult<()> {
        match res.plural {
            "persistentvolumeclaims"
                if obj["status"]["phase"] == "Pending"
                    && obj["metadata"]["deletionTimestamp"].is_null() =>
            {
                self.bind_claim(
                    obj["metadata"]["namespace"].as_str().unwrap_or(""),
                    name_of(obj),
                )
                .await?;
            }
            "persistentvolumes" if obj["status"]["phase"] == "Available" => {
                self.bind_volume(name_of(obj)).await?;
            }
            "namespaces" => self.ensure_default_sa(name_of(obj)).await?,
            _ => {}
        }
        Ok(())
    }

    async fn after_delete(self: &Arc<Self>, res: &Res, obj: &Value) -> ApiResult<()> {
        match res.plural {
            "persistentvolumeclaims" => {
                let ns = obj["metadata"]["namespace"].as_str().unwrap_or("");
                let pvname = obj["spec"]["volumeName"].as_str().unwrap_or("");
                if pvname.is_empty() {
                    return Ok(());
                }
                let uid = obj["metadata"]["uid"].clone();
                self.modify(res_of("persistentvolumes"), None, pvname, |pv| {
                    let cr = &pv["spec"]["claimRef"];
                    if cr["namespace"] != ns || cr["name"] != name_of(obj) || (!cr["uid"].is_null() && cr["uid"] != uid) {
                        return false;
                    }
                    match pv["spec"]["persistentVolumeReclaimPolicy"].as_str().unwrap_or("Retain") {
                        "Recycle" => {
                            if let Some(m) = pv["spec"].as_object_mut() {
                                m.remove("claimRef");
                            }
                            pv["status"] = json!({"phase": "Available"});
                        }
                        "Delete" => {
                            pv["status"] = json!({"phase": "Failed", "message": "error getting deleter volume plugin for volume: no deletable volume plugin matched"});
                        }
                        _ => pv["status"] = json!({"phase": "Released"}),
                    }
                    true
                }).await?;
            }
            "serviceaccounts" => {
                // The token controller deletes the token Secrets of a deleted ServiceAccount.
                let ns = obj["metadata"]["namespace"].as_str().unwrap_or("");
                let sres = res_of("secrets");
                let prefix = format!("/registry/{}/{}/", sres.etcd, ns);
                let (kvs, _) = self.cfg.etcd.list(&prefix).await?;
                for kv in kvs {
                    let sec = decode(&kv);
                    let ann = &sec["metadata"]["annotations"];
                    let uid = &ann["kubernetes.io/service-account.uid"];
                    if sec["type"] == "kubernetes.io/service-account-token"
                        && ann["kubernetes.io/service-account.name"].as_str() == Some(name_of(obj))
                        && (uid.is_null() || *uid == obj["metadata"]["uid"])
                    {
                        self.cfg.etcd.delete(&kv.key, kv.mod_revision).await?;
                    }
                }
            }
            "persistentvolumes" => {
                let cr = &obj["spec"]["claimRef"];
                if let (Some(ns), Some(n)) = (cr["namespace"].as_str(), cr["name"].as_str()) {
                    let pvname = name_of(obj).to_string();
                    self.modify(res_of("persistentvolumeclaims"), Some(ns), n, |pvc| {
                        if pvc["spec"]["volumeName"].as_str() != Some(pvname.as_str()) {
                            return false;
                        }
                        pvc["status"]["phase"] = json!("Lost");
                        true
                    })
                    .await?;
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Read-modify-CAS loop for controller writes. Returns the stored object if changed.
    async fn modify(
        &self,
        res: &Res,
        ns: Option<&str>,
        name: &str,
        mut f: impl FnMut(&mut Value) -> bool,
    ) -> Result<Option<Value>> {
        let key = obj_key(res, ns, name);
        for _ in 0..20 {
            let Some(kv) = self.cfg.etcd.get(&key).await? else {
                return Ok(None);
            };
            let mut o = decode(&kv);
            if !f(&mut o) {
                return Ok(None);
            }
            if let Some(rev) = self
                .cfg
                .etcd
                .update(&key, &encode(&o), kv.mod_revision)
                .await?
            {
                set_rv(&mut o, rev);
                return Ok(Some(o));
            }
        }
        anyhow::bail!("too many conflicts updating {key}")
    }

    async fn bind_claim(&self, ns: &str, claim: &str) -> Result<bool> {
        let pvres = res_of("persistentvolumes");
        for _ in 0..10 {
            let Some(ckv) = self
                .cfg
                .etcd
                .get(&obj_key(res_of("persistentvolumeclaims"), Some(ns), claim))
                .await?
            else {
                return Ok(false);
            };
            let pvc = decode(&ckv);
            if pvc["status"]["phase"] != "Pending" {
                return Ok(false);
            }
            let (pvs, _) = self
                .cfg
                .etcd
                .list(&format!("/registry/{}/", pvres.etcd))
                .await?;
            let mut best: Option<(f64, Kv, Value)> = None;
            for kv in pvs {
                let pv = decode(&kv);
                if pv_matches(&pv, &pvc) {
                    let cap = parse_quantity(&pv["spec"]["capacity"]["storage"]).unwrap_or(0.0);
                    if best.as_ref().is_none_or(|(c, _, _)| cap < *c) {
                        best = Some((cap, kv, pv));
                    }
                }
            }
            let Some((_, kv, mut pv)) = best else {
                return Ok(false);
            };
            pv["spec"]["claimRef"] = json!({"kind": "PersistentVolumeClaim", "namespace": ns, "name": claim,
                "uid": pvc["metadata"]["uid"], "apiVersion": "v1", "resourceVersion": pvc["metadata"]["resourceVersion"]});
            pv["status"] = json!({"phase": "Bound"});
            if let Some(a) = pv["metadata"]["annotations"].as_object_mut().or(None) {
                a.insert("pv.kubernetes.io/bound-by-controller".into(), json!("yes"));
            } else {
                pv["metadata"]["annotations"] =
                    json!({"pv.kubernetes.io/bound-by-controller": "yes"});
            }
            if self
                .cfg
                .etcd
                .update(&kv.key, &encode(&pv), kv.mod_revision)
                .await?
                .is_none()
            {
                continue;
            }
            let pvname = name_of(&pv).to_string();
            let uid = pvc["metadata"]["uid"].clone();
            let done = self.modify(res_of("persistentvolumeclaims"), Some(ns), claim, |c| {
                if c["metadata"]["uid"] != uid {
                    return false;
                }
                c["spec"]["volumeName"] = json!(pvname);
                c["metadata"]["annotations"]["pv.kubernetes.io/bind-completed"] = json!("yes");
                c["metadata"]["annotations"]["pv.kubernetes.io/bound-by-controller"] = json!("yes");
                c["status"] = json!({"phase": "Bound", "accessModes": pv["spec"]["accessModes"], "capacity": pv["spec"]["capacity"]});
                true
            }).await?;
            if done.is_none() {
                // The claim vanished meanwhile: give the volume back.
                self.modify(pvres, None, &pvname, |p| {
                    if p["spec"]["claimRef"]["uid"] != uid {
                        return false;
                    }
                    if let Some(m) = p["spec"].as_object_mut() {
                        m.remove("claimRef");
                    }
                    p["status"] = json!({"phase": "Available"});
                    true
                })
                .await?;
                return Ok(false);
            }
            return Ok(true);
        }
        Ok(false)
    }

    async fn bind_volume(&self, pv: &str) -> Result<()> {
        let (claims, _) = self
            .cfg
            .etcd
            .list("/registry/persistentvolumeclaims/")
            .await?;
        let mut pending: Vec<Value> = claims
            .iter()
            .map(decode)
            .filter(|c| c["status"]["phase"] == "Pending")
            .collect();
        pending.sort_by(|a, b| {
            a["metadata"]["creationTimestamp"]
                .as_str()
                .cmp(&b["metadata"]["creationTimestamp"].as_str())
        });
        for c in pending {
            let Some(kv) = self
                .cfg
                .etcd
                .get(&obj_key(res_of("persistentvolumes"), None, pv))
                .await?
            else {
                return Ok(());
            };
            if decode(&kv)["status"]["phase"] != "Available" {
                return Ok(());
            }
            self.bind_claim(
                c["metadata"]["namespace"].as_str().unwrap_or(""),
                name_of(&c),
            )
            .await?;
        }
        Ok(())
    }
}

fn new_sa_token() -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(pki::random_bytes(32))
}

fn pod_healthy(p: &Value) -> bool {
    p["status"]["phase"] == "Running"
        && p["metadata"]["deletionTimestamp"].is_null()
        && p["status"]["conditions"].as_array().is_none_or(|cs| {
            cs.iter()
                .find(|c| c["type"] == "Ready")
                .is_none_or(|c| c["status"] == "True")
        })
}

fn pv_matches(pv: &Value, pvc: &Value) -> bool {
    let cr = &pv["spec"]["claimRef"];
    let pre_bound = !cr.is_null();
    if pre_bound {
        if cr["namespace"] != pvc["metadata"]["namespace"] || cr["name"] != pvc["metadata"]["name"]
        {
            return false;
        }
        if !cr["uid"].is_null() && cr["uid"] != pvc["metadata"]["uid"] {
            return false;
        }
    }
    if pv["status"]["phase"] != "Available" && !(pre_bound && pv["status"]["phase"] == "Pending") {
        return false;
    }
    if let Some(v) = pvc["spec"]["volumeName"].as_str()
        && !v.is_empty()
        && v != name_of(pv)
    {
        return false;
    }
    let sc = |o: &Value| {
        o["spec"]["storageClassName"]
            .as_str()
            .unwrap_or("")
            .to_string()
    };
    if sc(pv) != sc(pvc) {
        return false;
    }
    let vm = |o: &Value| {
        o["spec"]["volumeMode"]
            .as_str()
            .unwrap_or("Filesystem")
            .to_string()
    };
    if vm(pv) != vm(pvc) {
        return false;
    }
    let modes: Vec<&Value> = pv["spec"]["accessModes"]
        .as_array()
        .map(|a| a.iter().collect())
        .unwrap_or_default();
    if !pvc["spec"]["accessModes"]
        .as_array()
        .into_iter()
        .flatten()
        .all(|m| modes.contains(&m))
    {
        return false;
    }
    let cap = parse_quantity(&pv["spec"]["capacity"]["storage"]).unwrap_or(0.0);
    let req = parse_quantity(&pvc["spec"]["resources"]["requests"]["storage"]).unwrap_or(0.0);
    if cap < req {
        return false;
    }
    let sel = &pvc["spec"]["selector"];
    if !sel.is_null()
        && sel.as_object().is_some_and(|m| !m.is_empty())
        && !label_selector_matches(sel, pv)
    {
        return false;
    }
    true
}

fn mf_entry(mgr: &str, op: &str, av: &str, paths: &BTreeSet<Vec<String>>) -> Value {
    json!({"manager": mgr, "operation": op, "apiVersion": av, "time": now_rfc3339(),
        "fieldsType": "FieldsV1", "fieldsV1": paths_to_fields_v1(paths)})
}

/// managedFields bookkeeping for non-apply writes: the changed fields move to `mgr`.
fn record_update(obj: &mut Value, old: Option<&Value>, mgr: &str, av: &str) {
    let mut newp = BTreeSet::new();
    leaf_paths(obj, &mut vec![], &mut newp);
    let changed: BTreeSet<Vec<String>> = match old {
        None => newp,
        Some(o) => newp
            .into_iter()
            .filter(|p| get_path(o, p) != get_path(obj, p))
            .collect(),
    };
    if changed.is_empty() {
        return;
    }
    let mut entries: Vec<Value> = obj["metadata"]["managedFields"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let mut mine = BTreeSet::new();
    for e in entries.iter_mut() {
        let mut ps = BTreeSet::new();
        fields_v1_to_paths(&e["fieldsV1"], &mut vec![], &mut ps);
        if e["manager"].as_str() == Some(mgr) && e["operation"].as_str() == Some("Update") {
            mine = ps;
            continue;
        }
        let keep: BTreeSet<Vec<String>> = ps
            .into_iter()
            .filter(|p| !changed.iter().any(|c| overlaps(c, p)))
            .collect();
        e["fieldsV1"] = paths_to_fields_v1(&keep);
    }
    mine.extend(changed);
    entries.retain(|e| {
        !(e["manager"].as_str() == Some(mgr) && e["operation"].as_str() == Some("Update"))
            && e["fieldsV1"].as_object().is_some_and(|m| !m.is_empty())
    });
    entries.push(mf_entry(mgr, "Update", av, &mine));
    obj["metadata"]["managedFields"] = json!(entries);
}

fn defaults(res: &Res, obj: &mut Value) {
    match res.plural {
        "persistentvolumes" => {
            if obj["spec"]["persistentVolumeReclaimPolicy"].is_null() {
                obj["spec"]["persistentVolumeReclaimPolicy"] = json!("Retain");
            }
            if obj["spec"]["volumeMode"].is_null() {
                obj["spec"]["volumeMode"] = json!("Filesystem");
            }
            obj["status"] = json!({"phase": if obj["spec"]["claimRef"].is_null() { "Available" } else { "Pending" }});
            if obj["status"]["phase"] == "Pending" {
                obj["status"]["phase"] = json!("Available");
            }
        }
        "persistentvolumeclaims" => {
            if obj["spec"]["volumeMode"].is_null() {
                obj["spec"]["volumeMode"] = json!("Filesystem");
            }
            obj["status"] = json!({"phase": "Pending"});
        }
        "namespaces" => {
            obj["spec"]["finalizers"] = json!(["kubernetes"]);
            obj["status"] = json!({"phase": "Active"});
            let n = name_of(obj).to_string();
            obj["metadata"]["labels"]["kubernetes.io/metadata.name"] = json!(n);
        }
        "pods" => {
            if obj["status"]["phase"].is_null() {
                let scheduled = obj["spec"]["nodeName"].is_string();
                obj["status"] = json!({"phase": if scheduled { "Running" } else { "Pending" },
                    "conditions": [{"type": "Ready", "status": if scheduled { "True" } else { "False" }}]});
            }
            if obj["spec"]["restartPolicy"].is_null() {
                obj["spec"]["restartPolicy"] = json!("Always");
            }
        }
        "secrets" => {
            if obj["type"].is_null() {
                obj["type"] = json!("Opaque");
            }
            // stringData is write-only: fold it into data.
            if let Some(sd) = obj.get("stringData").and_then(Value::as_object).cloned() {
                for (k, v) in sd {
                    obj["data"][k] = json!(B64.encode(v.as_str().unwrap_or("")));
                }
                if let Some(m) = obj.as_object_mut() {
                    m.remove("stringData");
                }
            }
        }
        "nodes" if obj["spec"].is_null() => {
            obj["spec"] = json!({});
        }
        _ => {}
    }
}

fn validate(res: &Res, obj: &Value) -> ApiResult<()> {
    let name = name_of(obj);
    let mut causes: Vec<(&str, &str, String)> = Vec::new();
    if name.is_empty() {
        causes.push((
            "metadata.name",
            "FieldValueRequired",
            "Required value: name or generateName is required".into(),
        ));
    } else if resources::is_rbac(res) {
        // RBAC names are path segments (ValidatePathSegmentName), e.g. `system:node`.
        if name == "." || name == ".." || name.contains('/') || name.contains('%') {
            causes.push((
                "metadata.name",
                "FieldValueInvalid",
                format!(
                    "Invalid value: {name:?}: may not be '.' or '..' and may not contain '/' or '%'"
                ),
            ));
        }
    } else if !valid_name(name) {
        causes.push(("metadata.name", "FieldValueInvalid", format!("Invalid value: {name:?}: a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character")));
    }
    for (k, v) in obj["metadata"]["labels"].as_object().into_iter().flatten() {
        if !v.is_string() || v.as_str().is_some_and(|s| s.len() > 63) || k.is_empty() {
            causes.push((
                "metadata.labels",
                "FieldValueInvalid",
                format!(
                    "Invalid value: {v}: a valid label must be a string of 63 characters or less"
                ),
            ));
        }
    }
    let spec = &obj["spec"];
    let modes_ok = |m: &Value| {
        m.as_array().is_some_and(|a| {
            !a.is_empty()
                && a.iter().all(|x| {
                    matches!(
                        x.as_str(),
                        Some(
                            "ReadWriteOnce" | "ReadOnlyMany" | "ReadWriteMany" | "ReadWriteOncePod"
                        )
                    )
                })
        })
    };
    match res.plural {
        "persistentvolumes" => {
            match spec["capacity"]["storage"] {
                Value::Null => causes.push(("spec.capacity", "FieldValueRequired", "Required value".into())),
                ref q if parse_quantity(q).is_none() => causes.push(("spec.capacity.storage", "FieldValueInvalid", format!("Invalid value: {q}: quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"))),
                _ => {}
            }
            if !modes_ok(&spec["accessModes"]) {
                causes.push((
                    "spec.accessModes",
                    "FieldValueRequired",
                    "Required value".into(),
                ));
            }
            const SOURCES: &[&str] = &[
                "nfs",
                "hostPath",
                "local",
                "csi",
                "iscsi",
                "cephfs",
                "rbd",
                "fc",
                "glusterfs",
                "cinder",
            ];
            if !SOURCES
                .iter()
                .any(|s| spec.get(*s).is_some_and(Value::is_object))
            {
                causes.push((
                    "spec",
                    "FieldValueRequired",
                    "Required value: must specify a volume type".into(),
                ));
            }
            if spec["nfs"].is_object()
                && (spec["nfs"]["server"].as_str().unwrap_or("").is_empty()
                    || !spec["nfs"]["path"].as_str().unwrap_or("").starts_with('/'))
            {
                causes.push((
                    "spec.nfs",
                    "FieldValueRequired",
                    "Required value: server and an absolute path are required".into(),
                ));
            }
        }
        "persistentvolumeclaims" => {
            if !modes_ok(&spec["accessModes"]) {
                causes.push((
                    "spec.accessModes",
                    "FieldValueRequired",
                    "Required value: at least 1 access mode is required".into(),
                ));
            }
            match spec["resources"]["requests"]["storage"] {
                Value::Null => causes.push((
                    "spec.resources[storage]",
                    "FieldValueRequired",
                    "Required value".into(),
                )),
                ref q if parse_quantity(q).is_none() => causes.push((
                    "spec.resources.requests.storage",
                    "FieldValueInvalid",
                    format!("Invalid value: {q}: must be a quantity"),
                )),
                _ => {}
            }
        }
        "pods" => {
            let cs = spec["containers"].as_array();
            if cs.is_none_or(|c| c.is_empty()) {
                causes.push((
                    "spec.containers",
                    "FieldValueRequired",
                    "Required value".into(),
                ));
            }
            for c in cs.into_iter().flatten() {
                if c["name"].as_str().is_none_or(str::is_empty) {
                    causes.push((
                        "spec.containers[].name",
                        "FieldValueRequired",
                        "Required value".into(),
                    ));
                }
                if c["image"].as_str().is_none_or(str::is_empty) {
                    causes.push((
                        "spec.containers[].image",
                        "FieldValueRequired",
                        "Required value".into(),
                    ));
                }
            }
        }
        "poddisruptionbudgets"
            if !spec["minAvailable"].is_null() && !spec["maxUnavailable"].is_null() =>
        {
            causes.push((
                "spec",
                "FieldValueInvalid",
                "Invalid value: minAvailable and maxUnavailable cannot be both set".into(),
            ));
        }
        "daemonsets" | "deployments" | "replicasets" | "statefulsets" => {
            if spec["selector"].is_null() {
                causes.push((
                    "spec.selector",
                    "FieldValueRequired",
                    "Required value".into(),
                ));
            } else if !label_selector_matches(
                &spec["selector"],
                &json!({"metadata": spec["template"]["metadata"]}),
            ) {
                causes.push((
                    "spec.template.metadata.labels",
                    "FieldValueInvalid",
                    "Invalid value: `selector` does not match template `labels`".into(),
                ));
            }
        }
        "clusterrolebindings" | "rolebindings" => {
            let rr = &obj["roleRef"];
            let kinds: &[&str] = if res.plural == "clusterrolebindings" {
                &["ClusterRole"]
            } else {
                &["Role", "ClusterRole"]
            };
            if rr["apiGroup"].as_str() != Some("rbac.authorization.k8s.io") {
                causes.push((
                    "roleRef.apiGroup",
                    "FieldValueNotSupported",
                    format!(
                        "Unsupported value: {}: supported values: \"rbac.authorization.k8s.io\"",
                        rr["apiGroup"]
                    ),
                ));
            }
            match rr["kind"].as_str() {
                Some(k) if kinds.contains(&k) => {}
                _ => causes.push((
                    "roleRef.kind",
                    "FieldValueNotSupported",
                    format!(
                        "Unsupported value: {}: supported values: {}",
                        rr["kind"],
                        kinds
                            .iter()
                            .map(|k| format!("{k:?}"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                )),
            }
            if rr["name"].as_str().unwrap_or("").is_empty() {
                causes.push((
                    "roleRef.name",
                    "FieldValueRequired",
                    "Required value".into(),
                ));
            }
            for s in obj["subjects"].as_array().into_iter().flatten() {
                match s["kind"].as_str() {
                    Some("ServiceAccount") => {
                        if s["namespace"].as_str().unwrap_or("").is_empty() {
                            causes.push((
                                "subjects[0].namespace",
                                "FieldValueRequired",
                                "Required value".into(),
                            ));
                        }
                    }
                    Some("User" | "Group") => {}
                    _ => causes.push((
                        "subjects[0].kind",
                        "FieldValueNotSupported",
                        format!(
                            "Unsupported value: {}: supported values: \"ServiceAccount\", \"User\", \"Group\"",
                            s["kind"]
                        ),
                    )),
                }
                if s["name"].as_str().unwrap_or("").is_empty() {
                    causes.push((
                        "subjects[0].name",
                        "FieldValueRequired",
                        "Required value".into(),
                    ));
                }
            }
        }
        "secrets" | "configmaps" => {
            for (k, v) in obj["data"].as_object().into_iter().flatten() {
                if !v.is_string()
                    || (res.plural == "secrets" && B64.decode(v.as_str().unwrap_or("")).is_err())
                {
                    causes.push((
                        "data",
                        "FieldValueInvalid",
                        format!("Invalid value: {k:?}: illegal base64 data or non-string value"),
                    ));
                }
            }
        }
        _ => {}
    }
    if causes.is_empty() {
        Ok(())
    } else {
        Err(ApiError::invalid(res, name, causes))
    }
}

fn validate_immutable(res: &Res, old: &Value, new: &Value) -> ApiResult<()> {
    let name = name_of(new);
    match res.plural {
        "persistentvolumeclaims" => {
            let strip = |v: &Value| {
                let mut s = v["spec"].clone();
                if let Some(m) = s.as_object_mut() {
                    m.remove("volumeName");
                    m.remove("resources");
                }
                s
            };
            let mut o = strip(old);
            let n = strip(new);
            if o["volumeName"].is_null() {
                o = n.clone();
            }
            if o != n {
                return Err(ApiError::invalid(res, name, vec![("spec", "FieldValueForbidden", "Forbidden: spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims".into())]));
            }
        }
        "clusterrolebindings" | "rolebindings" if old["roleRef"] != new["roleRef"] => {
            return Err(ApiError::invalid(
                res,
                name,
                vec![(
                    "roleRef",
                    "FieldValueInvalid",
                    format!("Invalid value: {}: cannot change roleRef", new["roleRef"]),
                )],
            ));
        }
        "persistentvolumes" => {
            for src in ["nfs", "hostPath", "local", "csi"] {
                if !old["spec"][src].is_null() && old["spec"][src] != new["spec"][src] {
                    return Err(ApiError::invalid(
                        res,
                        name,
                        vec![(
                            "spec.persistentvolumesource",
                            "FieldValueForbidden",
                            "Forbidden: spec.persistentvolumesource is immutable after creation"
                                .into(),
                        )],
                    ));
                }
            }
        }
        _ => {}
    }
    Ok(())
}

/// Reject bodies whose well-known members have the wrong JSON type (before any code
/// indexes into them): 400 for a non-object body or metadata, 422 for the rest.
fn check_shape(res: &Res, obj: &Value) -> ApiResult<()> {
    if !obj.is_object() {
        return Err(ApiError::bad_request(
            "the request body must be a JSON object",
        ));
    }
    let md = &obj["metadata"];
    if !(md.is_object() || md.is_null()) {
        return Err(ApiError::bad_request("metadata must be an object"));
    }
    let name = md["name"].as_str().unwrap_or("");
    if !(md["name"].is_string() || md["name"].is_null()) {
        return Err(ApiError::invalid(
            res,
            "",
            vec![(
                "metadata.name",
                "FieldValueInvalid",
                "Invalid value: must be a string".into(),
            )],
        ));
    }
    let mut bad = Vec::new();
    for (field, v) in [
        ("metadata.labels", &md["labels"]),
        ("metadata.annotations", &md["annotations"]),
        ("spec", &obj["spec"]),
        ("status", &obj["status"]),
        ("data", &obj["data"]),
        ("stringData", &obj["stringData"]),
        ("spec.capacity", &obj["spec"]["capacity"]),
        ("spec.resources", &obj["spec"]["resources"]),
        ("spec.claimRef", &obj["spec"]["claimRef"]),
        ("spec.selector", &obj["spec"]["selector"]),
    ] {
        if !(v.is_object() || v.is_null()) {
            bad.push((
                field,
                "FieldValueInvalid",
                "Invalid value: must be an object".to_string(),
            ));
        }
    }
    for (field, v) in [
        ("metadata.finalizers", &md["finalizers"]),
        ("metadata.managedFields", &md["managedFields"]),
    ] {
        if !(v.is_array() || v.is_null()) {
            bad.push((
                field,
                "FieldValueInvalid",
                "Invalid value: must be a list".to_string(),
            ));
        }
    }
    if bad.is_empty() {
        Ok(())
    } else {
        Err(ApiError::invalid(res, name, bad))
    }
}

fn wants_table(ctx: &Ctx) -> bool {
    ctx.accept
        .split(',')
        .next()
        .is_some_and(|a| a.contains("as=Table"))
}

struct Ctx {
    method: Method,
    query: Query,
    ct: String,
    ua: String,
    accept: String,
    body: Bytes,
    user: Option<User>,
}

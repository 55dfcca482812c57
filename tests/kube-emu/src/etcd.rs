//! Minimal etcd v3 client over the gRPC JSON gateway (`/v3/kv/*`, `/v3/watch`, `/v3/cluster/*`).
//!
//! Keys and values are base64 in the gateway's JSON; int64 fields come back as strings.

use anyhow::{Context, Result, anyhow, bail};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

#[derive(Clone)]
pub struct Etcd {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    endpoints: Vec<String>,
    preferred: AtomicUsize,
}

#[derive(Debug, Clone)]
pub struct Kv {
    pub key: String,
    pub value: Vec<u8>,
    pub mod_revision: i64,
    pub create_revision: i64,
}

#[derive(Debug, Clone)]
pub struct Member {
    pub id: u64,
    pub name: String,
    pub peer_urls: Vec<String>,
    pub client_urls: Vec<String>,
}

/// One event from an etcd watch.
#[derive(Debug, Clone)]
pub enum WatchEvent {
    Put { kv: Kv },
    Delete { kv: Kv, prev: Option<Kv> },
}

pub fn b64(s: &[u8]) -> String {
    B64.encode(s)
}

fn num(v: &Value) -> i64 {
    match v {
        Value::String(s) => s.parse().unwrap_or(0),
        Value::Number(n) => n.as_i64().unwrap_or(0),
        _ => 0,
    }
}

fn unum(v: &Value) -> u64 {
    match v {
        Value::String(s) => s.parse().unwrap_or(0),
        Value::Number(n) => n.as_u64().unwrap_or(0),
        _ => 0,
    }
}

fn parse_kv(v: &Value) -> Kv {
    let dec = |f: &str| {
        v.get(f)
            .and_then(Value::as_str)
            .and_then(|s| B64.decode(s).ok())
            .unwrap_or_default()
    };
    Kv {
        key: String::from_utf8_lossy(&dec("key")).into_owned(),
        value: dec("value"),
        mod_revision: num(&v["mod_revision"]),
        create_revision: num(&v["create_revision"]),
    }
}

/// The key just after every key with this prefix (etcd's `range_end` for a prefix query).
pub fn prefix_end(prefix: &str) -> Vec<u8> {
    let mut end = prefix.as_bytes().to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    vec![0]
}

impl Etcd {
    pub fn new(endpoints: Vec<String>) -> Result<Etcd> {
        if endpoints.is_empty() {
            bail!("no etcd endpoint given");
        }
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(2))
            .no_proxy()
            .build()?;
        Ok(Etcd {
            inner: Arc::new(Inner {
                http,
                endpoints: endpoints
                    .into_iter()
                    .map(|e| e.trim_end_matches('/').to_string())
                    .collect(),
                preferred: AtomicUsize::new(0),
            }),
        })
    }

    pub fn endpoints(&self) -> &[String] {
        &self.inner.endpoints
    }

    /// POST to the gateway, failing over between endpoints on transport errors.
    async fn post_once(&self, path: &str, body: &Value, timeout: Duration) -> Result<Value> {
        let n = self.inner.endpoints.len();
        let start = self.inner.preferred.load(Ordering::Relaxed);
        let mut last_err = anyhow!("no etcd endpoint answered");
        for i in 0..n {
            let idx = (start + i) % n;
            let url = format!("{}{}", self.inner.endpoints[idx], path);
            match self
                .inner
                .http
                .post(&url)
                .json(body)
                .timeout(timeout)
                .send()
                .await
            {
                Ok(resp) => {
                    let status = resp.status();
                    let v: Value = resp.json().await.unwrap_or(Value::Null);
                    if status.is_success() {
                        self.inner.preferred.store(idx, Ordering::Relaxed);
                        return Ok(v);
                    }
                    let msg = v
                        .get("error")
                        .or_else(|| v.get("message"))
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_string();
                    // A member without quorum or being removed: try the next one.
                    last_err = anyhow!("etcd {url}: HTTP {status}: {msg}");
                    if status.is_client_error() && !msg.contains("leader") {
                        return Err(last_err);
                    }
                }
                Err(e) => last_err = anyhow!("etcd {url}: {e}"),
            }
        }
        Err(last_err)
    }

    async fn post(&self, path: &str, body: Value) -> Result<Value> {
        // Retry briefly: leader elections after a member loss take ~1 s.
        let mut err = None;
        for attempt in 0..6u64 {
            match self.post_once(path, &body, Duration::from_secs(5)).await {
                Ok(v) => return Ok(v),
                Err(e) => {
                    err = Some(e);
                    tokio::time::sleep(Duration::from_millis(200 * (attempt + 1))).await;
                }
            }
        }
        Err(err.unwrap_or_else(|| anyhow!("etcd unreachable")))
    }

    pub async fn get(&self, key: &str) -> Result<Option<Kv>> {
        let v = self
            .post("/v3/kv/range", json!({"key": b64(key.as_bytes())}))
            .await?;
        Ok(v["kvs"].as_array().and_then(|a| a.first()).map(parse_kv))
    }

    /// All keys under a prefix, and the store revision the read was made at.
    pub async fn list(&self, prefix: &str) -> Result<(Vec<Kv>, i64)> {
        let v = self
            .post(
                "/v3/kv/range",
                json!({"key": b64(prefix.as_bytes()), "range_end": b64(&prefix_end(prefix))}),
            )
            .await?;
        let kvs = v["kvs"]
            .as_array()
            .map(|a| a.iter().map(parse_kv).collect())
            .unwrap_or_default();
        Ok((kvs, num(&v["header"]["revision"])))
    }

    pub async fn revision(&self) -> Result<i64> {
        let v = self
            .post(
                "/v3/kv/range",
                json!({"key": b64(b"/registry/"), "count_only": true}),
            )
            .await?;
        Ok(num(&v["header"]["revision"]))
    }

    async fn txn(&self, compare: Value, success: Value) -> Result<Option<i64>> {
        let v = self
            .post(
                "/v3/kv/txn",
                json!({"compare": [compare], "success": [success]}),
            )
            .await?;
        if v["succeeded"].as_bool().unwrap_or(false) {
            Ok(Some(num(&v["header"]["revision"])))
        } else {
            Ok(None)
        }
    }

    /// Create if absent. `None` when the key already exists.
    pub async fn create(&self, key: &str, value: &[u8]) -> Result<Option<i64>> {
        self.txn(
            json!({"key": b64(key.as_bytes()), "target": "CREATE", "result": "EQUAL", "create_revision": "0"}),
            json!({"request_put": {"key": b64(key.as_bytes()), "value": b64(value)}}),
        )
        .await
    }

    /// Compare-and-swap on mod_revision. `None` when the key changed meanwhile.
    pub async fn update(&self, key: &str, value: &[u8], mod_revision: i64) -> Result<Option<i64>> {
        self.txn(
            json!({"key": b64(key.as_bytes()), "target": "MOD", "result": "EQUAL", "mod_revision": mod_revision.to_string()}),
            json!({"request_put": {"key": b64(key.as_bytes()), "value": b64(value)}}),
        )
        .await
    }

    pub async fn put(&self, key: &str, value: &[u8]) -> Result<i64> {
        let v = self
            .post(
                "/v3/kv/put",
                json!({"key": b64(key.as_bytes()), "value": b64(value)}),
            )
            .await?;
        Ok(num(&v["header"]["revision"]))
    }

    /// Delete if unchanged since `mod_revision`. `None` when it changed or is gone.
    pub async fn delete(&self, key: &str, mod_revision: i64) -> Result<Option<i64>> {
        self.txn(
            json!({"key": b64(key.as_bytes()), "target": "MOD", "result": "EQUAL", "mod_revision": mod_revision.to_string()}),
            json!({"request_delete_range": {"key": b64(key.as_bytes())}}),
        )
        .await
    }

    pub async fn delete_key(&self, key: &str) -> Result<()> {
        self.post("/v3/kv/deleterange", json!({"key": b64(key.as_bytes())}))
            .await?;
        Ok(())
    }

    /// Watch a prefix from `start_revision` (0 = now). Events arrive on the returned channel
    /// until the etcd stream ends or the receiver is dropped.
    pub async fn watch(
        &self,
        prefix: &str,
        start_revision: i64,
    ) -> Result<tokio::sync::mpsc::Receiver<Result<WatchEvent>>> {
        let req = json!({"create_request": {
            "key": b64(prefix.as_bytes()),
            "range_end": b64(&prefix_end(prefix)),
            "start_revision": start_revision.to_string(),
            "prev_kv": true,
        }});
        let n = self.inner.endpoints.len();
        let start = self.inner.preferred.load(Ordering::Relaxed);
        let mut resp = None;
        let mut last_err = anyhow!("no etcd endpoint answered");
        for i in 0..n {
            let url = format!("{}/v3/watch", self.inner.endpoints[(start + i) % n]);
            match self.inner.http.post(&url).json(&req).send().await {
                Ok(r) if r.status().is_success() => {
                    resp = Some(r);
                    break;
                }
                Ok(r) => last_err = anyhow!("etcd watch {url}: HTTP {}", r.status()),
                Err(e) => last_err = anyhow!("etcd watch {url}: {e}"),
            }
        }
        let mut resp = resp.ok_or(last_err)?;
        let (tx, rx) = tokio::sync::mpsc::channel(64);
        tokio::spawn(async move {
            let mut buf: Vec<u8> = Vec::new();
            loop {
                let chunk = tokio::select! {
                    c = resp.chunk() => c,
                    _ = tx.closed() => return,
                };
                match chunk {
                    Ok(Some(c)) => buf.extend_from_slice(&c),
                    Ok(None) => return,
                    Err(e) => {
                        let _ = tx.send(Err(anyhow!("etcd watch stream: {e}"))).await;
                        return;
                    }
                }
                // Messages are JSON objects separated by newlines.
                let mut de = serde_json::Deserializer::from_slice(&buf).into_iter::<Value>();
                let mut consumed = 0;
                while let Some(item) = de.next() {
                    match item {
                        Ok(msg) => {
                            consumed = de.byte_offset();
                            let result = &msg["result"];
                            if let Some(err) = msg.get("error") {
                                let _ = tx.send(Err(anyhow!("etcd watch: {err}"))).await;
                                return;
                            }
                            if result["canceled"].as_bool().unwrap_or(false) {
                                let _ = tx
                                    .send(Err(anyhow!(
                                        "etcd watch canceled: {}",
                                        result["cancel_reason"].as_str().unwrap_or("")
                                    )))
                                    .await;
                                return;
                            }
                            for ev in result["events"].as_array().into_iter().flatten() {
                                let kv = parse_kv(&ev["kv"]);
                                let e = if ev["type"].as_str() == Some("DELETE") {
                                    WatchEvent::Delete {
                                        kv,
                                        prev: ev.get("prev_kv").map(parse_kv),
                                    }
                                } else {
                                    WatchEvent::Put { kv }
                                };
                                if tx.send(Ok(e)).await.is_err() {
                                    return;
                                }
                            }
                        }
                        Err(e) if e.is_eof() => break,
                        Err(e) => {
                            let _ = tx.send(Err(anyhow!("etcd watch decode: {e}"))).await;
                            return;
                        }
                    }
                }
                buf.drain(..consumed);
            }
        });
        Ok(rx)
    }

    pub async fn member_list(&self) -> Result<Vec<Member>> {
        let v = self.post("/v3/cluster/member/list", json!({})).await?;
        Ok(v["members"]
            .as_array()
            .map(|a| a.iter().map(parse_member).collect())
            .unwrap_or_default())
    }

    /// `etcdctl member add`: returns the new member's id and the full member list.
    pub async fn member_add(&self, peer_url: &str) -> Result<(u64, Vec<Member>)> {
        let v = self
            .post("/v3/cluster/member/add", json!({"peerURLs": [peer_url]}))
            .await
            .context("etcd member add")?;
        let id = unum(&v["member"]["ID"]);
        let members = v["members"]
            .as_array()
            .map(|a| a.iter().map(parse_member).collect())
            .unwrap_or_default();
        Ok((id, members))
    }

    pub async fn member_remove(&self, id: u64) -> Result<()> {
        self.post("/v3/cluster/member/remove", json!({"ID": id.to_string()}))
            .await
            .context("etcd member remove")?;
        Ok(())
    }
}

fn parse_member(v: &Value) -> Member {
    let urls = |f: &str| {
        v[f].as_array()
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(String::from)
                    .collect()
            })
            .unwrap_or_default()
    };
    Member {
        id: unum(&v["ID"]),
        name: v["name"].as_str().unwrap_or("").to_string(),
        peer_urls: urls("peerURLs"),
        client_urls: urls("clientURLs"),
    }
}

//! Accept loop: TLS (optional client certificates) + HTTP/1.1.

use crate::api::{Server, User};
use anyhow::Result;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

pub async fn serve(
    listener: TcpListener,
    tls: rustls::ServerConfig,
    server: Arc<Server>,
) -> Result<()> {
    let acceptor = TlsAcceptor::from(Arc::new(tls));
    loop {
        let (tcp, _peer) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                eprintln!("kube-emu: accept: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let acceptor = acceptor.clone();
        let server = server.clone();
        tokio::spawn(async move {
            let Ok(Ok(tls)) =
                tokio::time::timeout(std::time::Duration::from_secs(10), acceptor.accept(tcp))
                    .await
            else {
                return;
            };
            let user = tls
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|c| c.first())
                .and_then(|c| crate::pki::cert_identity(c.as_ref()))
                .map(|(name, groups)| User { name, groups });
            let svc = service_fn(move |req| {
                let server = server.clone();
                let user = user.clone();
                async move { Ok::<_, std::convert::Infallible>(server.handle(req, user).await) }
            });
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(tls), svc)
                .await;
        });
    }
}

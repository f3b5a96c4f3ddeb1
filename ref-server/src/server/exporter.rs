//! Where the metrics go: the reference's metrics file, rewritten every `prometheus_interval`
//! seconds (`savePrometheusMetrics`: wait, then write, forever), and our opt-in HTTP endpoint
//! (`GET /metrics`, HTTP/1.1 through `hyper`) for scrapers.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tracing::{debug, warn};

use super::metrics::NtfMetrics;

/// The content type of the text exposition format 0.0.4.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Writes the metrics to `path` every `interval`, first after one interval. Each write goes
/// to a temporary file renamed over the old one, so a reader never sees half a file.
pub async fn write_file_every(metrics: Arc<NtfMetrics>, path: PathBuf, interval: Duration) {
    let tmp = path.with_extension("txt.tmp");
    loop {
        tokio::time::sleep(interval).await;
        let text = metrics.encode();
        let (tmp2, path2) = (tmp.clone(), path.clone());
        let result = tokio::task::spawn_blocking(move || std::fs::write(&tmp2, text).and_then(|()| std::fs::rename(&tmp2, &path2)))
            .await
            .unwrap_or_else(|e| Err(std::io::Error::other(e)));
        if let Err(e) = result {
            warn!(file = %path.display(), "cannot write the metrics file: {e}");
        }
    }
}

/// Binds the HTTP endpoint.
///
/// # Errors
/// The address cannot be bound.
pub async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr).await
}

/// Serves `GET /metrics` on `listener` (404 for other paths, 405 for other methods).
pub async fn serve(metrics: Arc<NtfMetrics>, listener: TcpListener) {
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                warn!("metrics endpoint: accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let metrics = metrics.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| answer(metrics.clone(), req));
            if let Err(e) = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service).await {
                debug!(%peer, "metrics connection: {e}");
            }
        });
    }
}

async fn answer(metrics: Arc<NtfMetrics>, req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let (status, body) = match (req.method(), req.uri().path()) {
        (&hyper::Method::GET, "/metrics") => (StatusCode::OK, metrics.encode()),
        (_, "/metrics") => (StatusCode::METHOD_NOT_ALLOWED, "only GET\n".into()),
        _ => (StatusCode::NOT_FOUND, "metrics are at /metrics\n".into()),
    };
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = status;
    resp.headers_mut().insert(hyper::header::CONTENT_TYPE, hyper::header::HeaderValue::from_static(CONTENT_TYPE));
    Ok(resp)
}

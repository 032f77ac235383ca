//! HTTP servers the tests run in-process in front of a log: a proxy that
//! tampers with one path, and a static directory (a mirror or CDN of a
//! published log).

use super::client;
use std::path::PathBuf;

/// A reverse proxy in front of a log that changes the body of one path:
/// how the tests play a log (or a mirror) serving tampered data.
pub(crate) async fn tamper_proxy(upstream: String, path: String, tamper: fn(&mut Vec<u8>)) -> String {
    use axum::body::Body;
    use axum::http::{Request, Response};
    let client = client();
    let app = axum::Router::new().fallback(move |req: Request<Body>| {
        let (client, upstream, path) = (client.clone(), upstream.clone(), path.clone());
        async move {
            let uri = req.uri().to_string();
            let r = client.get(format!("{upstream}{uri}")).send().await.expect("upstream");
            let status = r.status().as_u16();
            let ctype = r.headers().get("content-type").cloned();
            let mut body = r.bytes().await.expect("body").to_vec();
            if req.uri().path() == path {
                tamper(&mut body);
            }
            let mut resp = Response::builder().status(status);
            if let Some(c) = ctype {
                resp = resp.header("content-type", c);
            }
            resp.body(Body::from(body)).expect("response")
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

/// Serves a directory over HTTP (a mirror or CDN in front of a published
/// log): `GET /<path>` is the file, 404 otherwise.
pub(crate) async fn serve_dir(dir: PathBuf) -> String {
    use axum::extract::Path as AxPath;
    use axum::http::StatusCode;
    let app = axum::Router::new().route(
        "/{*rest}",
        axum::routing::get(move |AxPath(rest): AxPath<String>| {
            let dir = dir.clone();
            async move {
                if rest.split('/').any(|p| p == ".." || p.is_empty()) {
                    return (StatusCode::BAD_REQUEST, Vec::new());
                }
                match std::fs::read(dir.join(&rest)) {
                    Ok(b) => (StatusCode::OK, b),
                    Err(_) => (StatusCode::NOT_FOUND, Vec::new()),
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

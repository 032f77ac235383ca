//! What the submitting commands share: the log's origin, posting with
//! retries, and keeping the log's signed refusals.

use anyhow::{Context, Result, bail};
use serde_json::Value;

/// The checkpoint origin the log at `base` reports (`GET /v1/log`), for
/// signatures bound to it.
pub(super) async fn log_origin(base: &str) -> Result<String> {
    let url = format!("{base}/v1/log");
    let client = crate::client::http_client(std::time::Duration::from_secs(30))?;
    let resp = client.get(&url).send().await.with_context(|| format!("GET {url}"))?;
    let status = resp.status();
    if !status.is_success() {
        bail!("GET {url}: {status} (give --origin, or --signature-version 1 for a log older than origin binding)");
    }
    let body: Value = resp.json().await.with_context(|| format!("GET {url}: not JSON"))?;
    match body["origin"].as_str() {
        Some(o) if !o.is_empty() && !o.contains('\n') => Ok(o.to_owned()),
        _ => bail!("GET {url}: no origin in the answer (give --origin)"),
    }
}

/// Attempts per submission when the log sheds load or cannot be reached.
const ATTEMPTS: u32 = 5;

/// Posts one submission, retrying (same bytes, so the same `event_id`: the
/// log answers a retry of a durable entry with its original index) on
/// `429`/`503` after `Retry-After`, and on connection errors with back-off.
pub(super) async fn post_with_retries(
    client: &reqwest::Client,
    url: &str,
    s: &Value,
) -> Result<(reqwest::StatusCode, String)> {
    let (status, body) = post_bytes_with_retries(client, url, "application/json", s.to_string().into_bytes()).await?;
    Ok((status, String::from_utf8_lossy(&body).into_owned()))
}

/// [`post_with_retries`] for a body of any media type.
pub(super) async fn post_bytes_with_retries(
    client: &reqwest::Client,
    url: &str,
    content_type: &str,
    body: Vec<u8>,
) -> Result<(reqwest::StatusCode, Vec<u8>)> {
    let mut delay = std::time::Duration::from_millis(200);
    for attempt in 1..=ATTEMPTS {
        let sent = client
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, content_type)
            .body(body.clone())
            .send()
            .await;
        match sent {
            Ok(resp) => {
                let status = resp.status();
                let retry = status == reqwest::StatusCode::TOO_MANY_REQUESTS
                    || status == reqwest::StatusCode::SERVICE_UNAVAILABLE;
                let wait = resp
                    .headers()
                    .get(reqwest::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse::<u64>().ok())
                    .map_or(delay, |secs| std::time::Duration::from_secs(secs.min(60)));
                let body = resp.bytes().await.map(|b| b.to_vec()).unwrap_or_default();
                if !retry || attempt == ATTEMPTS {
                    return Ok((status, body));
                }
                tokio::time::sleep(wait).await;
            }
            Err(e) if attempt == ATTEMPTS => return Err(e).with_context(|| format!("POST {url}")),
            Err(_) => tokio::time::sleep(delay).await,
        }
        delay = delay.saturating_mul(2);
    }
    bail!("POST {url}: no attempts made")
}

/// Appends the `refusal` of an error body to `file`, if both are there.
pub(super) fn save_refusal(file: Option<&std::path::Path>, error_body: &str) -> Result<()> {
    use std::io::Write;
    let Some(file) = file else { return Ok(()) };
    let Ok(v) = serde_json::from_str::<Value>(error_body) else {
        return Ok(());
    };
    let Some(r) = v.get("error").and_then(|e| e.get("refusal")) else {
        return Ok(());
    };
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(file)
        .with_context(|| format!("opening {}", file.display()))?;
    writeln!(f, "{r}")?;
    f.sync_all()?;
    Ok(())
}

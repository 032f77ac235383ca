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
    // A standby under [ha] names the sequencer: the retry goes there.
    let mut target = url.to_owned();
    for attempt in 1..=ATTEMPTS {
        let sent = client
            .post(&target)
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
                let sequencer = resp
                    .headers()
                    .get(crate::http::error::SEQUENCER_HEADER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|base| elsewhere(&target, base));
                let body = resp.bytes().await.map(|b| b.to_vec()).unwrap_or_default();
                if !retry || attempt == ATTEMPTS {
                    return Ok((status, body));
                }
                match sequencer {
                    Some(t) => {
                        tracing::info!(from = %target, to = %t, "a standby named the sequencer; retrying there");
                        target = t;
                    }
                    None => tokio::time::sleep(wait).await,
                }
            }
            Err(e) if attempt == ATTEMPTS => return Err(e).with_context(|| format!("POST {target}")),
            Err(_) => tokio::time::sleep(delay).await,
        }
        delay = delay.saturating_mul(2);
    }
    bail!("POST {url}: no attempts made")
}

/// `url` moved to the base URL `base` a standby named (the same API path
/// from `/v1/…`, or SCITT's `/entries`, under `base`), if
/// `base` is an http(s) URL and the move goes somewhere else.
fn elsewhere(url: &str, base: &str) -> Option<String> {
    let b = url::Url::parse(base).ok()?;
    if !matches!(b.scheme(), "http" | "https") {
        return None;
    }
    let u = url::Url::parse(url).ok()?;
    // The API path, without whatever prefix the log is served under here.
    let path = u.path();
    let api = path
        .find("/v1/")
        .or_else(|| path.rfind("/entries"))
        .map_or(path, |i| &path[i..]);
    let moved = format!("{}{api}", base.trim_end_matches('/'));
    (moved != url).then_some(moved)
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

#[cfg(test)]
mod tests {
    use super::elsewhere;

    #[test]
    fn a_retry_goes_to_the_named_sequencer_under_the_same_api_path() {
        assert_eq!(
            elsewhere("http://a:1/v1/entries", "http://b:2").as_deref(),
            Some("http://b:2/v1/entries")
        );
        assert_eq!(
            elsewhere("http://a/log/v1/entries/batch", "https://b/prod/").as_deref(),
            Some("https://b/prod/v1/entries/batch")
        );
        assert_eq!(
            elsewhere("http://a/entries", "http://b").as_deref(),
            Some("http://b/entries")
        );
        assert_eq!(elsewhere("http://a/v1/entries", "http://a"), None, "not elsewhere");
        assert_eq!(elsewhere("http://a/v1/entries", "file:///x"), None, "not http");
        assert_eq!(elsewhere("http://a/v1/entries", "not a url"), None);
    }
}

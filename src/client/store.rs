//! Object stores (S3 and S3-compatible stores, GCS, Azure, a local
//! directory through `file://`), opened once here for the publisher that
//! writes the static API and the readers that fetch it back.

use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt};
use std::sync::Arc;
#[cfg(any(feature = "s3", feature = "gcs", feature = "azure"))]
use std::time::Duration;

/// Why an object store URL could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum StoreUrlError {
    /// Not a URL.
    #[error("object store URL {url:?}")]
    Parse {
        /// The URL.
        url: String,
        /// Why it does not parse.
        #[source]
        source: url::ParseError,
    },
    /// A scheme this build does not support.
    #[error("object store URL {url:?}: scheme {scheme:?} is not supported by this build ({supported})")]
    Scheme {
        /// The URL.
        url: String,
        /// Its scheme.
        scheme: String,
        /// The schemes this build supports.
        supported: String,
    },
    /// The directory of a `file://` store cannot be created.
    #[error("creating {}", dir.display())]
    Dir {
        /// The directory.
        dir: std::path::PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The store's client refused its configuration.
    #[error("configuring {url}")]
    Open {
        /// The URL.
        url: String,
        /// Why.
        #[source]
        source: object_store::Error,
    },
}

/// Opens an object store URL. Credentials come from the usual environment
/// variables of each cloud (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
/// `GOOGLE_APPLICATION_CREDENTIALS`, `AZURE_STORAGE_…`).
///
/// # Errors
/// A URL the build cannot open (scheme, missing feature, bad options).
pub fn open_store(
    url: &str,
    endpoint: Option<&str>,
    region: Option<&str>,
) -> Result<Arc<dyn ObjectStore>, StoreUrlError> {
    let parsed = url::Url::parse(url).map_err(|source| StoreUrlError::Parse {
        url: url.to_owned(),
        source,
    })?;
    let prefix = parsed.path().trim_matches('/').to_owned();
    let store: Arc<dyn ObjectStore> = match parsed.scheme() {
        "file" => {
            let dir = std::path::PathBuf::from(parsed.path());
            std::fs::create_dir_all(&dir).map_err(|source| StoreUrlError::Dir {
                dir: dir.clone(),
                source,
            })?;
            return Ok(Arc::new(
                object_store::local::LocalFileSystem::new_with_prefix(&dir).map_err(|source| StoreUrlError::Open {
                    url: url.to_owned(),
                    source,
                })?,
            ));
        }
        #[cfg(feature = "s3")]
        "s3" => {
            let mut b = object_store::aws::AmazonS3Builder::from_env()
                .with_url(url)
                .with_retry(quick_retries())
                .with_client_options(client_options());
            if let Some(e) = endpoint {
                b = b.with_endpoint(e).with_allow_http(e.starts_with("http://"));
            }
            if let Some(r) = region {
                b = b.with_region(r);
            }
            Arc::new(b.build().map_err(|source| StoreUrlError::Open {
                url: url.to_owned(),
                source,
            })?)
        }
        #[cfg(feature = "gcs")]
        "gs" => Arc::new(
            object_store::gcp::GoogleCloudStorageBuilder::from_env()
                .with_url(url)
                .with_retry(quick_retries())
                .with_client_options(client_options())
                .build()
                .map_err(|source| StoreUrlError::Open {
                    url: url.to_owned(),
                    source,
                })?,
        ),
        #[cfg(feature = "azure")]
        "az" | "azure" | "abfs" => Arc::new(
            object_store::azure::MicrosoftAzureBuilder::from_env()
                .with_url(url)
                .with_retry(quick_retries())
                .with_client_options(client_options())
                .build()
                .map_err(|source| StoreUrlError::Open {
                    url: url.to_owned(),
                    source,
                })?,
        ),
        other => {
            return Err(StoreUrlError::Scheme {
                url: url.to_owned(),
                scheme: other.to_owned(),
                supported: format!(
                    "file, s3{}{}",
                    if cfg!(feature = "gcs") { ", gs" } else { "" },
                    if cfg!(feature = "azure") { ", az" } else { "" }
                ),
            });
        }
    };
    let _ = (endpoint, region);
    if prefix.is_empty() {
        Ok(store)
    } else {
        Ok(Arc::new(object_store::prefix::PrefixStore::new(store, prefix)))
    }
}

/// The publisher retries whole rounds itself (with back-off, forever), so
/// each request gives up quickly instead of the client's default minutes.
#[cfg(any(feature = "s3", feature = "gcs", feature = "azure"))]
fn quick_retries() -> object_store::RetryConfig {
    object_store::RetryConfig {
        max_retries: 2,
        retry_timeout: Duration::from_secs(10),
        backoff: object_store::BackoffConfig::default(),
    }
}

#[cfg(any(feature = "s3", feature = "gcs", feature = "azure"))]
fn client_options() -> object_store::ClientOptions {
    object_store::ClientOptions::new()
        .with_connect_timeout(Duration::from_secs(5))
        .with_timeout(Duration::from_secs(30))
}

/// A store's object, or `None` if absent.
///
/// # Errors
/// Anything but "not found".
pub async fn get_object(store: &dyn ObjectStore, path: &str) -> Result<Option<bytes::Bytes>, object_store::Error> {
    match store.get(&ObjectPath::from(path)).await {
        Ok(r) => Ok(Some(r.bytes().await?)),
        Err(object_store::Error::NotFound { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

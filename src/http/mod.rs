//! The one HTTP server module, used by the log's API, the witness and the
//! monitor alike: the accept loop with its connection cap and timeouts,
//! and the body limits and close-on-unread-body middleware.

pub mod body;
pub mod error;
pub mod server;
pub mod stream;

/// `Cache-Control` of tiles and bundles, wherever they are served or
/// published: their bytes never change.
pub const IMMUTABLE_CACHE_CONTROL: &str = "public, max-age=31536000, immutable";
/// `Cache-Control` of the published checkpoint (it moves on every round).
pub const CHECKPOINT_CACHE_CONTROL: &str = "public, max-age=2, must-revalidate";

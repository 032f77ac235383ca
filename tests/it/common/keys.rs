//! Key files written the way the binary writes and accepts them.

use provlog_tlog::keys::SignerKey;
use std::path::Path;

/// Writes a signer key file (mode 0600) the way `provlog keygen` does.
pub(crate) fn write_key(path: &Path, key: &SignerKey) {
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .expect("key file");
    std::io::Write::write_all(&mut f, format!("{}\n", key.to_skey_string()).as_bytes()).expect("write");
}

/// Puts a log's private key into `dir` as a log would accept it (mode 0600).
pub(crate) fn put_log_key(dir: &Path, skey: &[u8]) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(dir).expect("mkdir");
    let path = dir.join("log.skey");
    std::fs::write(&path, skey).expect("skey");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
}

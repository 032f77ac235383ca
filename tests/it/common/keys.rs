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

/// A `[[submitters]]` block for a full-scope `dev` submitter whose key is
/// written to `data_dir/dev.skey`, where `Server::dev_key` reads it: what a
/// config file must say to get what the embedded default gives a first
/// start with no config at all.
pub(crate) fn dev_submitter(data_dir: &Path, seed: u8) -> String {
    let key = SignerKey::from_seed("dev", provlog_tlog::keys::ALG_ED25519, [seed; 32]).expect("key");
    std::fs::create_dir_all(data_dir).expect("mkdir");
    write_key(&data_dir.join("dev.skey"), &key);
    format!(
        "[[submitters]]\nid = \"dev\"\nkey = {:?}\nactions = [\"*\"]\ntargets = [\"*\"]\n",
        key.verifier().to_vkey_string()
    )
}

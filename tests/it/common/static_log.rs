//! A log served from memory by the test process, for logs that misbehave.

use provlog_tlog::keys::SignerKey;

/// A log served from memory by the test: any entries, signed with any key.
/// This is how tests build logs that misbehave (forks, forged entries)
/// without any such ability in the server.
pub(crate) async fn static_log(entries: Vec<Vec<u8>>, key: SignerKey) -> String {
    use axum::extract::Path as AxPath;
    use axum::http::StatusCode;
    use provlog_tlog::checkpoint::{Checkpoint, sign_checkpoint};
    use provlog_tlog::merkle::{HashSource, MemoryTree, NodeId, leaf_hash};
    use provlog_tlog::tile::{TileId, TileKind, encode_bundle};
    let mut tree = MemoryTree::new();
    for e in &entries {
        tree.push(leaf_hash(e));
    }
    let size = entries.len() as u64;
    let cp = Checkpoint::new(key.name(), size, tree.root_at(size).expect("root"));
    let note = sign_checkpoint(&cp, &key).expect("sign").to_string();
    let entries = std::sync::Arc::new(entries);
    let tree = std::sync::Arc::new(tree);
    let app = axum::Router::new()
        .route("/checkpoint", axum::routing::get(move || async move { note }))
        .route(
            "/tile/{*rest}",
            axum::routing::get(move |AxPath(rest): AxPath<String>| {
                let (entries, tree) = (entries.clone(), tree.clone());
                async move {
                    let Ok(t) = TileId::parse_path(&format!("tile/{rest}")) else {
                        return (StatusCode::BAD_REQUEST, Vec::new());
                    };
                    let Some((level, range)) = t.node_range().filter(|(l, r)| r.end <= size >> l) else {
                        return (StatusCode::NOT_FOUND, Vec::new());
                    };
                    let body = match t.kind {
                        TileKind::Hash { .. } => {
                            let ids: Vec<NodeId> = range.map(|i| NodeId::new(level, i)).collect();
                            tree.node_hashes(&ids).expect("nodes").concat()
                        }
                        TileKind::Entries => {
                            let index = |i: u64| usize::try_from(i).expect("index fits in memory");
                            encode_bundle(entries[index(range.start)..index(range.end)].iter().map(Vec::as_slice))
                                .expect("bundle")
                        }
                    };
                    (StatusCode::OK, body)
                }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

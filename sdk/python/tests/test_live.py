"""The SDK against the real server (`provlog serve`)."""

from __future__ import annotations

import base64
import json
import socket
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

import provlog
from conftest import Proxy, Server, start_server
from provlog import tiles
from provlog.note import Note, sign_note


def fp(seed: str) -> str:
    return provlog.fingerprint_of(seed.encode())


def event(target: str, fingerprint: str, *, action: str = "issue", event_id: str | None = None) -> provlog.Event:
    return provlog.Event(
        event_id=event_id or f"ev-{uuid.uuid4().hex[:12]}",
        occurred_at=provlog.now_rfc3339(),
        action=action,
        actor=provlog.Actor("wf/test", "workflow"),
        target=provlog.Target(target, "service_account", "gcp"),
        credential=provlog.Credential(fingerprint, not_after="2099-01-01T00:00:00Z"),
        details={"test": True},
    )


@pytest.fixture(scope="module")
def dev(server: Server) -> provlog.SignerKey:
    return provlog.SignerKey.load(server.data / "dev.skey")


@pytest.fixture
def client(server: Server) -> Any:
    with provlog.Client(server.url, log_key=server.log_vkey, retries=2, backoff=0.05) as c:
        yield c


def test_submit_retry_conflict(client: provlog.Client, dev: provlog.SignerKey, server: Server) -> None:
    assert client.origin() == "localhost/provlog"
    assert client.log_info()["vkey"] == server.log_vkey
    e = event("svc-a", fp("a1"))
    sub = provlog.sign_submission(e, "dev", dev, client.origin())
    r = client.submit(sub)
    v = provlog.verify_receipt(r, server.log_vkey)
    assert v.event == e.to_json()
    assert v.leaf["submitter"] == "dev" and v.leaf["v"] == 2
    # A retry of the same event: 200, same index.
    v2 = client.submit_verified(sub)
    assert v2.index == v.index
    # Another event under the same event_id: 409.
    other = provlog.sign_submission(event("svc-a", fp("a2"), event_id=e.event_id), "dev", dev, client.origin())
    with pytest.raises(provlog.ConflictError) as ei:
        client.submit(other)
    assert ei.value.status == 409 and ei.value.code == "event_id_conflict"
    # A bad signature: 401, typed.
    bad = dict(sub, signature=base64.b64encode(b"\0" * 64).decode())
    bad["event"] = dict(sub["event"], event_id="ev-bad-" + uuid.uuid4().hex[:8])
    with pytest.raises(provlog.AuthenticationError) as ai:
        client.submit(bad)
    assert ai.value.code == "bad_signature"
    # A version 1 signature is accepted by a log that does not require binding.
    v1 = client.submit_verified(provlog.sign_submission(event("svc-a", fp("a3")), "dev", dev))
    assert v1.leaf["v"] == 1


def test_batch(client: provlog.Client, dev: provlog.SignerKey) -> None:
    origin = client.origin()
    subs = [provlog.sign_submission(event(f"svc-b{i}", fp(f"b{i}")), "dev", dev, origin) for i in range(3)]
    first = client.submit_batch(subs[:1])
    assert first[0].status == 201 and first[0].ok
    res = client.submit_batch([*subs, {"event": {}, "submitter": "dev", "signature": "AA=="}])
    assert [r.status for r in res[:3]] == [200, 201, 201]
    assert res[0].receipt is not None and first[0].receipt is not None
    assert res[0].receipt["index"] == first[0].receipt["index"]
    assert not res[3].ok and res[3].error is not None and res[3].error.status == 400
    for r in res[:3]:
        assert r.receipt is not None
        provlog.verify_receipt(r.receipt, client.log_key or "")


def test_credential_answers(client: provlog.Client, dev: provlog.SignerKey, server: Server) -> None:
    origin = client.origin()
    a, b = fp("c-old"), fp("c-new")
    client.submit(provlog.sign_submission(event("svc-c", a), "dev", dev, origin))
    rot = provlog.Event(
        event_id=f"rot-{uuid.uuid4().hex[:8]}", occurred_at=provlog.now_rfc3339(), action=provlog.Action.ROTATE,
        actor=provlog.Actor("wf/rotate", "workflow"), target=provlog.Target("svc-c", "service_account", "gcp"),
        credential=provlog.Credential(b, previous_fingerprint=a),
    )
    r = client.submit_verified(provlog.sign_submission(rot, "dev", dev, origin))
    s = _wait_state(client, b, r.index)
    assert s.state == "active" and s.record is not None and s.record["owner"]["id"] == "svc-c"
    assert client.verified_credential(a).state == "superseded"
    assert client.verified_credential(fp("never")).state == "unknown"
    # Historical: before the rotation, `a` was active.
    h = client.verified_credential(a, at=r.index)
    assert h.state == "active"
    # Stale by the caller's clock.
    with pytest.raises(provlog.VerificationError, match="stale"):
        client.verified_credential(b, now=provlog.credentials.now_ms() + 3_600_000)
    # An answer verified offline under another key fails.
    with pytest.raises(provlog.VerificationError):
        other = provlog.SignerKey.generate("localhost/provlog").verifier()
        provlog.verify_credential_answer(client.credential(b), b, other)


def _wait_state(client: provlog.Client, fingerprint: str, index: int) -> provlog.CredentialState:
    deadline = time.time() + 10
    while True:
        s = client.verified_credential(fingerprint)
        if s.commitment.index > index or time.time() > deadline:
            return s
        time.sleep(0.1)


def test_tampered_answers_through_a_proxy_fail(proxy: Proxy, server: Server, dev: provlog.SignerKey) -> None:
    with provlog.Client(server.url, log_key=server.log_vkey) as direct:
        origin = direct.origin()
        f = fp("tamper")
        r = direct.submit(provlog.sign_submission(event("svc-t", f), "dev", dev, origin))
        _wait_state(direct, f, r["index"])
        assert direct.verified_credential(f).state == "active"
    with provlog.Client(proxy.url, log_key=server.log_vkey, retries=0) as c:
        assert c.verified_credential(f).state == "active"
        proxy.rewrite = lambda path, body: body.replace(b'"active"', b'"revoked"') if "credentials" in path else body
        assert b'"revoked"' in json.dumps(c.credential(f)).encode()
        with pytest.raises(provlog.VerificationError):
            c.verified_credential(f)

        def flip_proof(path: str, body: bytes) -> bytes:
            if "credentials" not in path:
                return body
            a = json.loads(body)
            p = bytearray(base64.b64decode(a["commitment"]["proof"][0]))
            p[0] ^= 1
            a["commitment"]["proof"][0] = base64.b64encode(bytes(p)).decode()
            return json.dumps(a).encode()

        proxy.rewrite = flip_proof
        with pytest.raises(provlog.VerificationError):
            c.verified_credential(f)

        # A flipped byte in an entry bundle fails the verified iterator.
        def flip_bundle(path: str, body: bytes) -> bytes:
            if not path.startswith("/tile/entries/"):
                return body
            b = bytearray(body)
            b[len(b) // 2] ^= 1
            return bytes(b)

        proxy.rewrite = flip_bundle
        with pytest.raises((provlog.VerificationError, provlog.FormatError)):
            list(c.entries())
        # A receipt whose checkpoint was swapped for another's fails.
        proxy.rewrite = lambda path, body: body.replace(b"localhost/provlog\\n", b"localhost/provlog2\\n")
        with pytest.raises(provlog.VerificationError):
            c.verified_receipt(r["index"])
        proxy.rewrite = None
        c.verified_receipt(r["index"])


def test_retry_on_503_with_retry_after(proxy: Proxy, server: Server, dev: provlog.SignerKey) -> None:
    with provlog.Client(proxy.url, log_key=server.log_vkey, retries=3, backoff=0.01) as c:
        origin = c.origin()
        sub = provlog.sign_submission(event("svc-r", fp("retry")), "dev", dev, origin)
        proxy.fail_next, proxy.retry_after = 2, "1"
        t0 = time.monotonic()
        r = c.submit_verified(sub)
        assert time.monotonic() - t0 >= 1.8, "Retry-After: 1 was honoured twice"
        assert r.index >= 0
        assert proxy.requests[-3:] == ["POST /v1/entries"] * 3
        # Out of retries: the 503 surfaces as a typed error.
        proxy.fail_next, proxy.retry_after = 5, None
        with pytest.raises(provlog.UnavailableError) as ei:
            c.submit(sub)
        assert ei.value.status == 503 and ei.value.code == "overloaded"
        proxy.fail_next = 0
        # The submission was logged once: the retry gets the same index.
        assert c.submit_verified(sub).index == r.index
        # Batch items are retried on a whole-batch 503 too.
        proxy.fail_next, proxy.retry_after = 1, "0"
        assert c.submit_batch([sub])[0].status == 200


def test_connection_errors_are_retried_then_typed() -> None:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    with provlog.Client(f"http://127.0.0.1:{port}", retries=2, backoff=0.01, timeout=2) as c:
        t0 = time.monotonic()
        with pytest.raises(provlog.TransportError):
            c.log_info()
        assert time.monotonic() - t0 < 5


def test_search(client: provlog.Client, dev: provlog.SignerKey) -> None:
    origin = client.origin()
    target = f"svc-search-{uuid.uuid4().hex[:6]}"
    idx = [client.submit(provlog.sign_submission(event(target, fp(f"s{i}{target}")), "dev", dev, origin))["index"]
           for i in range(3)]
    found: list[dict[str, Any]] = []
    deadline = time.time() + 10
    while len(found) < 3 and time.time() < deadline:
        found = list(client.search(target=target, limit=1))
        time.sleep(0.1)
    assert [e["index"] for e in found] == idx
    assert all(e["decoded"]["event"]["target"]["id"] == target for e in found)
    assert [e["index"] for e in client.search(target=target, action="issue", after=idx[0])] == idx[1:]
    assert list(client.search(target=target, action="revoke")) == []


def test_verified_entries_and_checkpoint_store(
    client: provlog.Client, dev: provlog.SignerKey, server: Server, tmp_path: Path
) -> None:
    store = provlog.CheckpointStore(tmp_path / "cp.json", server.log_vkey)
    assert store.latest is None
    first = store.refresh(client)
    assert store.latest == first
    everything = list(client.entries(checkpoint=first))
    assert [e.index for e in everything] == list(range(first.size))
    assert everything[0].leaf["kind"] == "policy"
    for e in everything:
        provlog.verify_receipt(client.receipt(e.index), server.log_vkey)
    # Grow past a bundle (256 entries) and check the store extends.
    origin = client.origin()
    subs = [provlog.sign_submission(event(f"svc-g{i}", fp(f"g{i}{uuid.uuid4()}")), "dev", dev, origin)
            for i in range(300)]
    assert all(r.ok for r in client.submit_batch(subs))
    second = store.refresh(client)
    assert second.size > first.size + 300 - 1
    assert store.latest == second
    tail = list(client.entries(first.size - 1, checkpoint=second, bundles_per_check=1))
    assert [e.index for e in tail] == list(range(first.size - 1, second.size))
    mid = list(client.entries(250, 262, checkpoint=second))
    assert [e.index for e in mid] == list(range(250, 262))
    assert sum(1 for _ in client.entries(checkpoint=second)) == second.size
    # The raw tile agrees with the bundle.
    t0 = client.tile(0, 0)
    assert t0 == b"".join(provlog.leaf_hash(e) for e in client.bundle(0))
    # A rollback and a fork are refused, signed by the real log key.
    with pytest.raises(provlog.RollbackError):
        store.update(first.note, client)
    log_key = provlog.SignerKey.load(server.data / "log.skey")
    forged_text = f"{origin}\n{second.size}\n{base64.b64encode(b'x' * 32).decode()}\n"
    forged = Note(forged_text, (sign_note(forged_text, log_key),)).to_string()
    with pytest.raises(provlog.ForkError):
        store.update(forged, client)
    # Against an older stored checkpoint, the log's real proof does not reach the forged root.
    older = provlog.CheckpointStore(tmp_path / "older.json", server.log_vkey)
    older.update(first.note)
    with pytest.raises(provlog.ForkError):
        older.update(forged, client)
    assert older.latest == first
    # A size the log cannot prove is not stored either.
    ahead_text = f"{origin}\n{second.size + 10**6}\n{base64.b64encode(b'x' * 32).decode()}\n"
    with pytest.raises(provlog.VerificationError, match="no consistency proof"):
        store.update(Note(ahead_text, (sign_note(ahead_text, log_key),)).to_string(), client)
    assert store.latest == second
    # Not the log's key: refused before anything else.
    other = provlog.SignerKey.generate(origin)
    forged_text = f"{origin}\n{second.size + 5}\n{base64.b64encode(b'y' * 32).decode()}\n"
    with pytest.raises(provlog.VerificationError):
        store.update(Note(forged_text, (sign_note(forged_text, other),)).to_string(), client)
    assert tiles.encode_index(second.size // 256) == "001"


@pytest.fixture(scope="module")
def scoped(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A server with a `ci` submitter limited to svc-* and a sequenced `seq`."""
    d = tmp_path_factory.mktemp("scoped")
    ci, seq = provlog.SignerKey.generate("ci"), provlog.SignerKey.generate("seq")
    cfg = d / "provlog.toml"
    cfg.write_text(
        f'[[submitters]]\nid = "ci"\nkey = "{ci.verifier().to_vkey_string()}"\n'
        'actions = ["issue", "rotate", "revoke"]\n'
        f'targets = ["svc-*"]\n\n[[submitters]]\nid = "seq"\nkey = "{seq.verifier().to_vkey_string()}"\n'
        'actions = ["*"]\ntargets = ["*"]\nsequenced = true\n',
        encoding="utf-8",
    )
    s = start_server(d / "data", "--config", str(cfg))
    yield s, ci, seq
    s.stop()


def test_signed_refusal(scoped: Any) -> None:
    s, ci, _ = scoped
    with provlog.Client(s.url, log_key=s.log_vkey) as c:
        sub = provlog.sign_submission(event("prod-db", fp("refused")), "ci", ci, c.origin())
        with pytest.raises(provlog.ForbiddenError) as ei:
            c.submit(sub)
        err = ei.value
        assert err.status == 403 and err.code == "out_of_scope" and err.refusal is not None
        r = provlog.verify_refusal(err.refusal, s.log_vkey, sub)
        assert r.code == "out_of_scope" and r.refusal["submitter"] == "ci"
        with pytest.raises(provlog.VerificationError):
            provlog.verify_refusal(err.refusal, s.log_vkey, dict(sub, submitter="other"))
        forged = json.loads(json.dumps(err.refusal))
        forged["refusal"]["code"] = "approvals_required"
        with pytest.raises(provlog.VerificationError):
            provlog.verify_refusal(forged, s.log_vkey, sub)


def test_sequenced_chain(scoped: Any) -> None:
    s, _, seq = scoped
    with provlog.Client(s.url, log_key=s.log_vkey) as c:
        origin = c.origin()
        chain = provlog.ChainState.from_log(c, "seq")
        assert chain.seq == 0
        registered = chain.head
        receipts: list[provlog.VerifiedReceipt] = []
        for i in range(3):
            ev = chain.sequence(event(f"any-{i}", fp(f"seq{i}{uuid.uuid4()}")))
            r = c.submit_verified(provlog.sign_submission(ev, "seq", seq, origin))
            assert r.event is not None and r.event["seq"] == i + 1
            assert r.event["prev"] == (registered if i == 0 else receipts[-1].leaf_hash_b64)
            chain.advance({"entry": base64.b64encode(r.entry).decode()})
            receipts.append(r)
        assert chain.head == receipts[-1].leaf_hash_b64 and chain.seq == 3
        # A gap is refused with the expected link (and a signed refusal).
        gap = event("any-x", fp(f"gap{uuid.uuid4()}")).with_chain(chain.seq + 2, chain.head)
        with pytest.raises(provlog.ConflictError) as ei:
            c.submit(provlog.sign_submission(gap, "seq", seq, origin))
        assert ei.value.code == "chain_gap"
        assert ei.value.expected == {"seq": 4, "prev": chain.head}
        # The committed head catches up with the chain.
        deadline = time.time() + 10
        while provlog.ChainState.from_log(c, "seq").seq < 3 and time.time() < deadline:
            time.sleep(0.1)
        again = provlog.ChainState.from_log(c, "seq")
        assert (again.seq, again.head) == (chain.seq, chain.head)
        assert provlog.ChainState.from_json(chain.to_json()).to_json() == chain.to_json()

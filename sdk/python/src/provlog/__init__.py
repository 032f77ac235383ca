"""provlog: sign, submit and verify provisioning events of a provlog transparency log.

The package reimplements none of provlog's formats by hand: keys are C2SP
signed-note keys (:mod:`provlog.keys`), events are canonicalized with RFC
8785 (:mod:`provlog.events`), and receipts, checkpoints, consistency
proofs, credential answers and signed refusals verify offline with only
the log's vkey (:mod:`provlog.receipts`, :mod:`provlog.note`,
:mod:`provlog.merkle`, :mod:`provlog.credentials`, :mod:`provlog.refusals`).
:class:`Client` talks to a server.
"""

from .client import BatchResult, Client, VerifiedEntry
from .credentials import (
    ChainHead,
    Commitment,
    CredentialState,
    verify_chain_answer,
    verify_credential_answer,
    verify_map_proof,
)
from .errors import (
    APIError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    ForbiddenError,
    FormatError,
    NotFoundError,
    ProvlogError,
    RateLimitedError,
    TransportError,
    UnavailableError,
    VerificationError,
)
from .events import (
    Action,
    Actor,
    Approval,
    Authority,
    Credential,
    Decision,
    Event,
    Target,
    approval_digest,
    approval_message,
    canonical_event,
    fingerprint_of,
    now_rfc3339,
    sign_approval,
    sign_submission,
    signing_message_v1,
    signing_message_v2,
    verify_submission_signature,
)
from .jcs import canonicalize
from .keys import ALG_COSIGNATURE_V1, ALG_ED25519, SignerKey, VerifierKey
from .merkle import leaf_hash, verify_consistency, verify_inclusion
from .note import Checkpoint, Note, cosign, open_checkpoint, open_witnessed_checkpoint, require_cosignatures
from .receipts import TlogProof, VerifiedReceipt, parse_leaf, verify_receipt
from .refusals import VerifiedRefusal, submission_digest, verify_refusal
from .state import ChainState, CheckpointStore, ForkError, RollbackError

__version__ = "0.1.0"
"""The SDK's version."""

__all__ = [
    "ALG_COSIGNATURE_V1",
    "ALG_ED25519",
    "APIError",
    "Action",
    "Actor",
    "Approval",
    "AuthenticationError",
    "Authority",
    "BadRequestError",
    "BatchResult",
    "ChainHead",
    "ChainState",
    "Checkpoint",
    "CheckpointStore",
    "Client",
    "Commitment",
    "ConflictError",
    "Credential",
    "CredentialState",
    "Decision",
    "Event",
    "ForbiddenError",
    "ForkError",
    "FormatError",
    "Note",
    "NotFoundError",
    "ProvlogError",
    "RateLimitedError",
    "RollbackError",
    "SignerKey",
    "Target",
    "TlogProof",
    "TransportError",
    "UnavailableError",
    "VerificationError",
    "VerifiedEntry",
    "VerifiedReceipt",
    "VerifiedRefusal",
    "VerifierKey",
    "approval_digest",
    "approval_message",
    "canonical_event",
    "canonicalize",
    "cosign",
    "fingerprint_of",
    "leaf_hash",
    "now_rfc3339",
    "open_checkpoint",
    "open_witnessed_checkpoint",
    "parse_leaf",
    "require_cosignatures",
    "sign_approval",
    "sign_submission",
    "signing_message_v1",
    "signing_message_v2",
    "submission_digest",
    "verify_chain_answer",
    "verify_consistency",
    "verify_credential_answer",
    "verify_inclusion",
    "verify_map_proof",
    "verify_receipt",
    "verify_refusal",
    "verify_submission_signature",
]

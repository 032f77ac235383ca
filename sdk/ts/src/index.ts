/**
 * `@provlog/sdk`: sign, submit and verify provlog provisioning events.
 *
 * - keys: {@link SignerKey}, {@link VerifierKey}
 * - events: {@link EventBuilder}, {@link signSubmission}, {@link signApproval}
 * - submit: {@link Client}, {@link ChainState}
 * - verify: {@link verifyReceipt}, {@link openCheckpoint}, {@link verifyConsistency},
 *   {@link verifyCredentialAnswer}, {@link verifyRefusal}, {@link CheckpointTracker}
 * - read: {@link Client.entries}, {@link Client.search}, {@link verifiedEntries}
 *
 * Node-only helpers (a file checkpoint store, key files) are in `@provlog/sdk/node`.
 * @packageDocumentation
 */
export * from "./bytes.js";
export * from "./errors.js";
export * from "./keys.js";
export * from "./jcs.js";
export * from "./merkle.js";
export * from "./note.js";
export * from "./event.js";
export * from "./leaf.js";
export * from "./map.js";
export * from "./verify.js";
export * from "./tiles.js";
export * from "./client.js";
export * from "./chain.js";
export * from "./store.js";

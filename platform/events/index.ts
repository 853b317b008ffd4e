// platform/events: integration events on RabbitMQ. The bus (one resilient
// connection, confirm publishing, consumers with retry queues and a DLQ,
// request/reply), the topology it declares, the transactional outbox and its
// relay, and the inbox that makes handlers idempotent by event id.
//
// It must never hold business rules or know a service's tables, never define a
// wire shape by hand (bodies are the generated protobuf messages), never keep a
// global connection (main.ts builds one bus and passes it down), and never
// acknowledge a message before its outcome (handled, retried or parked) is safe.
export { createEventBus, eventContentType, type EventBus, type EventBusOptions, type OutgoingEvent, type PublishOptions } from "./event-bus.js";
export type { EventHandler, EventHandlers, EventMeta, SubscribeOptions, Subscription } from "./consumer.js";
export type { RequestOptions, ServeOptions } from "./request-reply.js";
export { PublishError, RemoteRequestError, RequestTimeoutError, type PublishFailure } from "./errors.js";
export { integrationEvents, eventNameOf, isEventName, encodeEvent, decodeEvent, type EventName, type EventOf, type MessageCodec } from "./event-types.js";
export {
  serviceQueueTopology,
  declareTopology,
  deadLetterQueueName,
  deadLetterExchangeName,
  retryQueueName,
  defaultRetryDelaysMs,
  type Topology,
  type ExchangeSpec,
  type ExchangeType,
  type QueueSpec,
  type BindingSpec,
} from "./topology.js";
export type { ReconnectOptions } from "./connection.js";
export { addToOutbox, claimOutboxBatch, markOutboxPublished, markOutboxFailed, deletePublishedOutboxRows, type OutboxEventOptions, type OutboxRow, type ClaimRequest } from "./outbox.js";
export { createOutboxRelay, type OutboxRelay, type OutboxRelayOptions } from "./outbox-relay.js";
export { runOnce, handleOnce, pruneInbox, type AfterCommit } from "./inbox.js";
export { serializeByKey } from "./serialize-by-key.js";
export { messagingConfigFrom, messagingEnv, type MessagingConfig } from "./messaging-config.js";
export { messagingTablesMigration } from "./messaging-tables.migration.js";
export type { MessagingTables, OutboxTable, InboxTable } from "./messaging.table.js";
export { listParkedMessages, replayParkedMessages, workQueueOf, type ParkedMessage } from "./dead-letters.js";

// platform/events: integration events on RabbitMQ. The bus (one resilient
// connection, confirm publishing, consumers with retry queues and a DLQ,
// request/reply), the topology it declares, the transactional outbox and its
// relay, and the inbox that makes handlers idempotent by event id.
//
// It must never hold business rules or know a service's tables, never define a
// wire shape by hand (bodies are the generated protobuf messages), never keep a
// global connection (main.ts builds one bus and passes it down), and never
// acknowledge a message before its outcome (handled, retried or parked) is safe.

export type { ReconnectOptions } from "./connection.js";
export type { EventHandler, EventHandlers, EventMeta, SubscribeOptions, Subscription } from "./consumer.js";
export { listParkedMessages, type ParkedMessage, replayParkedMessages, workQueueOf } from "./dead-letters.js";
export { PublishError, type PublishFailure, RemoteRequestError, RequestTimeoutError } from "./errors.js";
export { createEventBus, type EventBus, type EventBusOptions, eventContentType, type OutgoingEvent, type PublishOptions } from "./event-bus.js";
export { type Delivery, deliveryOf, eventDeliveries, readEventDeliveries } from "./event-delivery.js";
export {
  decodeEvent,
  type EventName,
  type EventOf,
  encodeEvent,
  eventNameOf,
  eventRegistryFrom,
  eventsPackage,
  type IntegrationEvent,
  integrationEvents,
  isEventName,
  type MessageCodec,
} from "./event-types.js";
export { type AfterCommit, handleOnce, handleOnceBeside, pruneInbox, runOnce } from "./inbox.js";
export type { InboxTable, MessagingTables, OutboxTable } from "./messaging.table.js";
export {
  defaultOutboxRetentionMs,
  type MessagingConfig,
  messagingConfigFrom,
  messagingEnv,
  type PublisherConfig,
  publisherConfigFrom,
  publisherEnv,
} from "./messaging-config.js";
export { messagingTablesMigration } from "./messaging-tables.migration.js";
export {
  addToOutbox,
  type ClaimRequest,
  claimOutboxBatch,
  countParkedOutboxRows,
  deletePublishedOutboxRows,
  listParkedOutboxRows,
  markOutboxFailed,
  markOutboxParked,
  markOutboxPublished,
  type OutboxEventOptions,
  type OutboxRow,
  type ParkedOutboxRow,
  releaseParkedOutboxRows,
} from "./outbox.js";
export { outboxParkingMigration } from "./outbox-parking.migration.js";
export { createOutboxRelay, type OutboxRelay, type OutboxRelayOptions } from "./outbox-relay.js";
export type { RequestOptions, ServeOptions } from "./request-reply.js";
export { serializeByKey } from "./serialize-by-key.js";
export {
  type BindingSpec,
  deadLetterExchangeName,
  deadLetterQueueName,
  declareTopology,
  defaultInstanceQueueExpiresMs,
  defaultRetryDelaysMs,
  type ExchangeSpec,
  type ExchangeType,
  type InstanceQueueOptions,
  instanceQueueName,
  instanceQueueTopology,
  type QueueSpec,
  retryQueueName,
  serviceQueueTopology,
  type Topology,
} from "./topology.js";

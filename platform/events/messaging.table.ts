// Row types of the outbox and inbox tables each SQL service keeps in its own
// database (messaging-tables.migration.ts creates them).
import type { ColumnType, Generated } from "kysely";

/** ISO-8601 UTC instants (Date#toISOString): compared and sorted as strings on every dialect. */
type Instant = string;

export interface OutboxTable {
  /** Insertion order: the relay publishes oldest first. PostgreSQL returns bigint as a string. */
  seq: Generated<number | string>;
  /** The event id: AMQP message_id, and the inbox key of every consumer. */
  id: string;
  event_type: string;
  /** The protobuf-encoded event. */
  payload: ColumnType<Buffer, Buffer, Buffer>;
  correlation_id: string | null;
  traceparent: string | null;
  created_at: Instant;
  /** Set once the broker confirmed the publish; null while pending. */
  published_at: Instant | null;
  /** Publish attempts so far (successful or not). */
  attempts: number;
  last_error: string | null;
  /** Not published before this instant (back-off after a failure). */
  next_attempt_at: Instant;
  /** The relay holding the row, until claimed_until; another relay may take it after that. */
  claimed_by: string | null;
  claimed_until: Instant | null;
  /**
   * Set when the row was parked: a required event that stayed unroutable. The
   * relay skips it until an operator replays it; last_error says why.
   */
  parked_at: Instant | null;
}

export interface InboxTable {
  event_id: string;
  /** The handler that processed it: one service may handle one event in several ways. */
  consumer: string;
  processed_at: Instant;
}

export interface MessagingTables {
  outbox: OutboxTable;
  inbox: InboxTable;
}

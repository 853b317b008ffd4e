// The basket's MongoDB documents (mongoose schemas). One document per buyer,
// keyed by the buyer id, holds everything a single-document update must change
// together: the lines, the checkout records and the outbox of events to publish.
// Every write is conditional on `revision` (the document's optimistic
// concurrency token, bumped by every write, the relay's included); `version` is
// the basket's version as buyers see it, bumped only when the lines change.
import { type Connection, type Model, Schema } from "mongoose";
import type { AbandonedClaim, WriteClaimFields } from "../../platform/mongo/index.js";

export interface MoneyFields {
  currencyCode: string;
  amountMinor: number;
}

export interface BasketLineFields {
  productId: string;
  productName: string;
  pictureUrl: string;
  unitPrice: MoneyFields;
  oldUnitPrice?: MoneyFields | null | undefined;
  /** The catalog's price_version of unitPrice (absent on lines written before it existed: 0). */
  priceVersion?: number | null | undefined;
  quantity: number;
}

/** What ordering said of the applied voucher when it was last checked. */
export interface VoucherFields {
  code: string;
  percentOff?: number | null | undefined;
  amountOff?: MoneyFields | null | undefined;
}

export interface CheckoutFields {
  requestId: string;
  orderId: string;
  total: MoneyFields;
  acceptedAt: Date;
  lines: Array<{ productId: string; quantity: number }>;
  orderStartedAt?: Date | null | undefined;
  rejectedAt?: Date | null | undefined;
  rejectionReason?: string | null | undefined;
  /** The voucher the checkout carried; OrderStarted takes it off the basket. */
  voucherCode?: string | null | undefined;
}

export interface OutboxEntryFields {
  eventId: string;
  /** Event name: the AMQP type and routing key. */
  type: string;
  /** The protobuf-encoded event. */
  payload: Uint8Array;
  correlationId?: string | null | undefined;
  traceparent?: string | null | undefined;
  createdAt: Date;
  /** Set once the broker confirmed the publish; sent entries are pruned later. */
  sentAt?: Date | null | undefined;
  attempts: number;
  lastError?: string | null | undefined;
}

/** A cancelled order whose lines went back into the basket: makes the give-back happen once per order. */
export interface ReturnedOrderFields {
  orderId: string;
  returnedAt: Date;
}

export interface BasketDocument {
  /** The buyer id (the token subject). */
  _id: string;
  /** Bumped by every write; every write filters on the value it read. */
  revision: number;
  /** Bumped when the lines change (the API's Basket.version). */
  version: number;
  lines: BasketLineFields[];
  /** The applied voucher, if any. */
  voucher?: VoucherFields | null | undefined;
  /** Why the basket removed the last applied voucher, for the page to show. */
  voucherRemovedReason?: string | null | undefined;
  updatedAt: Date;
  checkouts: CheckoutFields[];
  /** Cancelled orders already given back, newest last (absent on documents written before it existed). */
  returnedOrders?: ReturnedOrderFields[] | undefined;
  outbox: OutboxEntryFields[];
  /** True while any outbox entry is unsent: the relay's query. */
  outboxPending: boolean;
  /** A relay holds the outbox until then; others leave it alone. */
  outboxClaimedUntil?: Date | null | undefined;
}

/**
 * One event per consumer: the inbox that makes handlers idempotent. A delivery
 * first claims the entry (claimId, claimedUntil, renewed while its handler
 * runs), then marks it handled; handledAt is set only once the effect is done.
 */
export interface InboxDocument {
  eventId: string;
  consumer: string;
  claimId?: string | null | undefined;
  claimedUntil?: Date | null | undefined;
  handledAt?: Date | null | undefined;
}

const money = new Schema<MoneyFields>({ currencyCode: { type: String, required: true }, amountMinor: { type: Number, required: true } }, { _id: false });

const basketLine = new Schema<BasketLineFields>(
  {
    productId: { type: String, required: true },
    productName: { type: String, default: "" },
    pictureUrl: { type: String, default: "" },
    unitPrice: { type: money, required: true },
    oldUnitPrice: { type: money, required: false },
    priceVersion: { type: Number, required: false },
    quantity: { type: Number, required: true },
  },
  { _id: false },
);

const checkout = new Schema<CheckoutFields>(
  {
    requestId: { type: String, required: true },
    orderId: { type: String, required: true },
    total: { type: money, required: true },
    acceptedAt: { type: Date, required: true },
    lines: { type: [new Schema({ productId: { type: String, required: true }, quantity: { type: Number, required: true } }, { _id: false })], default: [] },
    orderStartedAt: { type: Date, required: false },
    rejectedAt: { type: Date, required: false },
    rejectionReason: { type: String, required: false },
    voucherCode: { type: String, required: false },
  },
  { _id: false },
);

const voucher = new Schema<VoucherFields>(
  {
    code: { type: String, required: true },
    percentOff: { type: Number, required: false },
    amountOff: { type: money, required: false },
  },
  { _id: false },
);

const returnedOrder = new Schema<ReturnedOrderFields>(
  { orderId: { type: String, required: true }, returnedAt: { type: Date, required: true } },
  { _id: false },
);

const outboxEntry = new Schema<OutboxEntryFields>(
  {
    eventId: { type: String, required: true },
    type: { type: String, required: true },
    payload: { type: Buffer, required: true },
    correlationId: { type: String, required: false },
    traceparent: { type: String, required: false },
    createdAt: { type: Date, required: true },
    sentAt: { type: Date, required: false },
    attempts: { type: Number, default: 0 },
    lastError: { type: String, required: false },
  },
  { _id: false },
);

const basketSchema = new Schema<BasketDocument>(
  {
    _id: { type: String, required: true },
    revision: { type: Number, required: true },
    version: { type: Number, required: true },
    lines: { type: [basketLine], default: [] },
    voucher: { type: voucher, required: false },
    voucherRemovedReason: { type: String, required: false },
    updatedAt: { type: Date, required: true },
    checkouts: { type: [checkout], default: [] },
    returnedOrders: { type: [returnedOrder], default: [] },
    outbox: { type: [outboxEntry], default: [] },
    outboxPending: { type: Boolean, default: false },
    outboxClaimedUntil: { type: Date, required: false },
  },
  // `revision` is ours: mongoose's own __v would only guard array edits.
  { versionKey: false, collection: "baskets" },
);
basketSchema.index({ outboxPending: 1 });
basketSchema.index({ "lines.productId": 1 });

const inboxSchema = new Schema<InboxDocument>(
  {
    eventId: { type: String, required: true },
    consumer: { type: String, required: true },
    claimId: { type: String },
    claimedUntil: { type: Date },
    handledAt: { type: Date },
  },
  { versionKey: false, collection: "basket_inbox" },
);
inboxSchema.index({ eventId: 1, consumer: 1 }, { unique: true });

/**
 * A writer's claim on one revision of one basket, for servers whose
 * conditional updates are not atomic (see basket.repository.ts). The unique
 * index lets exactly one writer hold (buyerId, revision).
 */
export interface WriteClaimDocument extends WriteClaimFields {
  buyerId: string;
  revision: number;
}

const writeClaimSchema = new Schema<WriteClaimDocument>(
  {
    buyerId: { type: String, required: true },
    revision: { type: Number, required: true },
    claimedAt: { type: Date, required: true },
    holder: { type: String },
  },
  { versionKey: false, collection: "basket_write_claims" },
);
writeClaimSchema.index({ buyerId: 1, revision: 1 }, { unique: true });

export interface BasketDb {
  baskets: Model<BasketDocument>;
  inbox: Model<InboxDocument>;
  /** Present when writes must claim their revision first (a server without atomic conditional updates). */
  writeClaims?: Model<WriteClaimDocument> | undefined;
  /** Told when a writer took over a claim its holder left behind (the holder died mid-write, or was slower than the lease). */
  onAbandonedClaim?: ((claim: AbandonedClaim) => void) | undefined;
}

/**
 * True when the server applies an update's filter and its change atomically,
 * as MongoDB does. FerretDB v1 does not: it reads the matching documents, then
 * writes each back by _id, so two writers filtering on the same revision can
 * both "match" and the second overwrites the first. It identifies itself with
 * `ferretdbVersion` in buildInfo.
 */
export async function hasAtomicConditionalUpdates(connection: Connection): Promise<boolean> {
  if (connection.db === undefined) throw new Error("the MongoDB connection is not open yet: connect before asking the server what it is");
  const info = (await connection.db.admin().command({ buildInfo: 1 })) as Record<string, unknown>;
  return info.ferretdbVersion === undefined;
}

/** The basket's models on `connection`; createBasketIndexes() makes their indexes. */
export function basketModels(connection: Connection, options: { claimWrites: boolean; onAbandonedClaim?: BasketDb["onAbandonedClaim"] }): BasketDb {
  return {
    baskets: connection.model<BasketDocument>("Basket", basketSchema),
    inbox: connection.model<InboxDocument>("BasketInbox", inboxSchema),
    writeClaims: options.claimWrites ? connection.model<WriteClaimDocument>("BasketWriteClaim", writeClaimSchema) : undefined,
    onAbandonedClaim: options.onAbandonedClaim,
  };
}

/** Creates the indexes (idempotent); run at start-up, since autoIndex is off. */
export async function createBasketIndexes(db: BasketDb): Promise<void> {
  await db.baskets.createIndexes();
  await db.inbox.createIndexes();
  await db.writeClaims?.createIndexes();
}

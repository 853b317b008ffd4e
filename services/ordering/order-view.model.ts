// The order read model's MongoDB documents (mongoose schemas): one document
// per order, keyed by the order id, holding the order as the API shows it plus
// what the queries filter, sort and add up on. `version` is the order's
// version on the write side; a document is only ever replaced by a higher one
// (order-view.repository.ts). Fields are precomputed where FerretDB v1's
// aggregation has no operator for them: `day` (the UTC day placed; no
// $dateToString there), `buyerEmailKey` (lower case; no collation) and the
// flat `currencyCode`/`totalMinor` the sales per day add up.
import { type Connection, type Model, Schema } from "mongoose";
import type { WriteClaimFields } from "../../platform/mongo/index.js";

export interface MoneyFields {
  currencyCode: string;
  amountMinor: number;
}

export interface OrderViewLineFields {
  productId: string;
  productName: string;
  pictureUrl: string;
  unitPrice: MoneyFields;
  units: number;
}

export interface OrderViewChangeFields {
  /** A domain status name ("PAID"). */
  status: string;
  changeTime: Date;
  reason: string;
}

export interface OrderViewDocument {
  /** The order id. */
  _id: string;
  version: number;
  buyerId: string;
  buyerEmail: string;
  /** buyerEmail in lower case: SearchOrders matches emails whatever the case. */
  buyerEmailKey: string;
  /** A domain status name ("PAID"). */
  status: string;
  checkoutRequestId: string;
  address: { street: string; city: string; state: string; country: string; zipCode: string };
  /** The masked card; the payment token is never here. */
  paymentMethod: { cardBrand: string; last4: string; expiryMonth: number; expiryYear: number; holderName: string };
  lines: OrderViewLineFields[];
  total: MoneyFields;
  subtotal: MoneyFields;
  discount: MoneyFields;
  voucherCode: string;
  history: OrderViewChangeFields[];
  createTime: Date;
  updateTime: Date;
  /** YYYY-MM-DD of createTime in UTC. */
  day: string;
  currencyCode: string;
  totalMinor: number;
  /** When this copy was written (for operators: how far behind a copy is). */
  projectedAt: Date;
}

const moneySchema = new Schema<MoneyFields>({ currencyCode: { type: String, required: true }, amountMinor: { type: Number, required: true } }, { _id: false });

const lineSchema = new Schema<OrderViewLineFields>(
  {
    productId: { type: String, required: true },
    productName: { type: String, default: "" },
    pictureUrl: { type: String, default: "" },
    unitPrice: { type: moneySchema, required: true },
    units: { type: Number, required: true },
  },
  { _id: false },
);

const changeSchema = new Schema<OrderViewChangeFields>(
  { status: { type: String, required: true }, changeTime: { type: Date, required: true }, reason: { type: String, default: "" } },
  { _id: false },
);

const orderViewSchema = new Schema<OrderViewDocument>(
  {
    _id: { type: String, required: true },
    version: { type: Number, required: true },
    buyerId: { type: String, required: true },
    buyerEmail: { type: String, default: "" },
    buyerEmailKey: { type: String, default: "" },
    status: { type: String, required: true },
    checkoutRequestId: { type: String, default: "" },
    address: {
      type: new Schema({ street: String, city: String, state: String, country: String, zipCode: String }, { _id: false }),
      required: true,
    },
    paymentMethod: {
      type: new Schema({ cardBrand: String, last4: String, expiryMonth: Number, expiryYear: Number, holderName: String }, { _id: false }),
      required: true,
    },
    lines: { type: [lineSchema], default: [] },
    total: { type: moneySchema, required: true },
    subtotal: { type: moneySchema, required: true },
    discount: { type: moneySchema, required: true },
    voucherCode: { type: String, default: "" },
    history: { type: [changeSchema], default: [] },
    createTime: { type: Date, required: true },
    updateTime: { type: Date, required: true },
    day: { type: String, required: true },
    currencyCode: { type: String, required: true },
    totalMinor: { type: Number, required: true },
    projectedAt: { type: Date, required: true },
  },
  { versionKey: false, collection: "order_views" },
);
// ListOrders: a buyer's orders newest first; SearchOrders: every order newest
// first, by status or by email; GetSalesPerDay: the orders of a range of days.
orderViewSchema.index({ buyerId: 1, createTime: -1, _id: -1 });
orderViewSchema.index({ createTime: -1, _id: -1 });
orderViewSchema.index({ status: 1, createTime: -1, _id: -1 });
orderViewSchema.index({ buyerEmailKey: 1, createTime: -1, _id: -1 });
orderViewSchema.index({ day: 1, status: 1 });

/**
 * A writer's claim on moving one order's copy off one version, for servers
 * whose conditional updates are not atomic (see order-view.repository.ts). The
 * unique index lets exactly one writer hold (orderId, version).
 */
export interface ViewWriteClaimDocument extends WriteClaimFields {
  orderId: string;
  version: number;
}

const writeClaimSchema = new Schema<ViewWriteClaimDocument>(
  {
    orderId: { type: String, required: true },
    version: { type: Number, required: true },
    claimedAt: { type: Date, required: true },
    holder: { type: String },
  },
  { versionKey: false, collection: "order_view_write_claims" },
);
writeClaimSchema.index({ orderId: 1, version: 1 }, { unique: true });

export interface OrderReadModel {
  views: Model<OrderViewDocument>;
  /** Present when writes must claim the version they replace first (a server without atomic conditional updates). */
  writeClaims?: Model<ViewWriteClaimDocument> | undefined;
}

/** The read model's models on `connection`; createOrderReadModelIndexes() makes their indexes. */
export function orderReadModelOn(connection: Connection, options: { claimWrites: boolean }): OrderReadModel {
  return {
    views: connection.model<OrderViewDocument>("OrderView", orderViewSchema),
    writeClaims: options.claimWrites ? connection.model<ViewWriteClaimDocument>("OrderViewWriteClaim", writeClaimSchema) : undefined,
  };
}

/** Creates the indexes (idempotent); run at start-up, since autoIndex is off. */
export async function createOrderReadModelIndexes(readModel: OrderReadModel): Promise<void> {
  await readModel.views.createIndexes();
  await readModel.writeClaims?.createIndexes();
}

// Ordering's migrations in the order they apply (Kysely sorts by name).

import { messagingTablesMigration, outboxParkingMigration } from "../../../platform/events/index.js";
import type { MigrationSet } from "../../../platform/sql/index.js";
import * as orderingTables from "./0001_ordering_tables.js";
import * as checkoutRequestPerBuyer from "./0002_checkout_request_per_buyer.js";
import * as vouchers from "./0004_vouchers.js";
import * as ordersByStatus from "./0005_orders_by_status.js";
import * as orderBuyerEmail from "./0006_order_buyer_email.js";

export const orderingMigrations: MigrationSet = {
  "0000_messaging_tables": messagingTablesMigration,
  "0001_ordering_tables": orderingTables,
  "0002_checkout_request_per_buyer": checkoutRequestPerBuyer,
  "0003_outbox_parking": outboxParkingMigration,
  "0004_vouchers": vouchers,
  "0005_orders_by_status": ordersByStatus,
  "0006_order_buyer_email": orderBuyerEmail,
};

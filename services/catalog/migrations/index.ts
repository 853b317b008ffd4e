// Catalog's migrations in the order they apply (Kysely sorts by name).

import { messagingTablesMigration, outboxParkingMigration } from "../../../platform/events/index.js";
import type { MigrationSet } from "../../../platform/sql/index.js";
import * as catalogTables from "./0001_catalog_tables.js";
import * as itemPriceVersion from "./0003_item_price_version.js";

export const catalogMigrations: MigrationSet = {
  "0000_messaging_tables": messagingTablesMigration,
  "0001_catalog_tables": catalogTables,
  "0002_outbox_parking": outboxParkingMigration,
  "0003_item_price_version": itemPriceVersion,
};

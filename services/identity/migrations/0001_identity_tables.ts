// Users, roles, refresh tokens, signing keys and sign-in throttling. Written
// with the schema builder so the same migration runs on SQLite, PostgreSQL and
// SQL Server.
import { type Kysely, sql } from "kysely";
import { isoTimeColumn, unicodeText } from "../../../platform/sql/index.js";

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable("identity_user")
    .addColumn("id", "varchar(36)", (col) => col.primaryKey())
    .addColumn("email", unicodeText(db, 254), (col) => col.notNull().unique())
    .addColumn("display_name", unicodeText(db, 100), (col) => col.notNull())
    .addColumn("password_hash", "varchar(200)", (col) => col.notNull())
    .addColumn("create_time", isoTimeColumn, (col) => col.notNull())
    .addColumn("update_time", isoTimeColumn, (col) => col.notNull())
    .execute();

  await db.schema
    .createTable("identity_user_role")
    .addColumn("user_id", "varchar(36)", (col) => col.notNull().references("identity_user.id").onDelete("cascade"))
    .addColumn("role", "varchar(32)", (col) => col.notNull())
    .addColumn("grant_time", isoTimeColumn, (col) => col.notNull())
    .addPrimaryKeyConstraint("identity_user_role_pk", ["user_id", "role"])
    .execute();

  await db.schema
    .createTable("identity_refresh_token")
    .addColumn("id", "varchar(36)", (col) => col.primaryKey())
    .addColumn("token_hash", "varchar(64)", (col) => col.notNull().unique())
    .addColumn("family_id", "varchar(36)", (col) => col.notNull())
    .addColumn("user_id", "varchar(36)", (col) => col.notNull().references("identity_user.id").onDelete("cascade"))
    .addColumn("create_time", isoTimeColumn, (col) => col.notNull())
    .addColumn("expire_time", isoTimeColumn, (col) => col.notNull())
    .addColumn("spent_time", isoTimeColumn)
    .addColumn("revoke_time", isoTimeColumn)
    .execute();
  await db.schema.createIndex("identity_refresh_token_family_id").on("identity_refresh_token").column("family_id").execute();
  await db.schema.createIndex("identity_refresh_token_user_id").on("identity_refresh_token").column("user_id").execute();
  await db.schema.createIndex("identity_refresh_token_expire_time").on("identity_refresh_token").column("expire_time").execute();

  await db.schema
    .createTable("identity_signing_key")
    .addColumn("kid", "varchar(36)", (col) => col.primaryKey())
    .addColumn("alg", "varchar(8)", (col) => col.notNull())
    .addColumn("public_jwk", unicodeText(db), (col) => col.notNull())
    .addColumn("sealed_private_jwk", unicodeText(db), (col) => col.notNull())
    .addColumn("create_time", isoTimeColumn, (col) => col.notNull())
    .addColumn("retire_time", isoTimeColumn)
    .addColumn("verify_until", isoTimeColumn)
    .addCheckConstraint("identity_signing_key_alg", sql`alg in ('ES256', 'RS256')`)
    .execute();

  await db.schema
    .createTable("identity_login_throttle")
    .addColumn("throttle_key", unicodeText(db, 300), (col) => col.primaryKey())
    .addColumn("failure_count", "integer", (col) => col.notNull())
    .addColumn("window_start", isoTimeColumn, (col) => col.notNull())
    .addColumn("locked_until", isoTimeColumn)
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable("identity_login_throttle").execute();
  await db.schema.dropTable("identity_signing_key").execute();
  await db.schema.dropTable("identity_refresh_token").execute();
  await db.schema.dropTable("identity_user_role").execute();
  await db.schema.dropTable("identity_user").execute();
}

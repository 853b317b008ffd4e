// SQL for vouchers and their redemptions. Plain functions taking (db | trx, …)
// so the order's transaction also holds the redemption. A redemption is one
// conditional UPDATE (remaining_redemptions > 0 and usable now): concurrent
// checkouts queue on the voucher's row and each sees the count the previous
// one left, so no more orders redeem it than it had redemptions.
// Every statement here must compile for SQLite, PostgreSQL and SQL Server
// (voucher.repository.test.ts checks all three).
import type { Kysely } from "kysely";
import { isMssql } from "../../platform/sql/index.js";
import type { Money } from "./order.js";
import type { OrderingDatabase, VoucherRow } from "./order.table.js";
import { type Voucher, type VoucherTerms, voucherCodeKey } from "./voucher.js";

type Db = Kysely<OrderingDatabase>;

function termsToRow(terms: VoucherTerms) {
  return {
    code: terms.code,
    percent_off: terms.percentOff ?? null,
    amount_off_minor: terms.amountOff?.amountMinor ?? null,
    amount_off_currency: terms.amountOff?.currencyCode ?? null,
    remaining_redemptions: terms.remainingRedemptions,
    valid_from: terms.validFrom?.toISOString() ?? null,
    valid_until: terms.validUntil?.toISOString() ?? null,
    active: terms.active,
  };
}

export function rowToVoucher(row: VoucherRow): Voucher {
  return {
    code: row.code,
    percentOff: row.percent_off ?? undefined,
    amountOff:
      row.amount_off_minor !== null && row.amount_off_currency !== null
        ? { currencyCode: row.amount_off_currency, amountMinor: Number(row.amount_off_minor) }
        : undefined,
    remainingRedemptions: row.remaining_redemptions,
    validFrom: row.valid_from !== null ? new Date(row.valid_from) : undefined,
    validUntil: row.valid_until !== null ? new Date(row.valid_until) : undefined,
    active: Boolean(row.active),
    createTime: new Date(row.create_time),
    updateTime: new Date(row.update_time),
  };
}

/** Inserts a voucher; rejects with the database's unique violation when its code (in any case) exists. */
export async function insertVoucher(db: Db, terms: VoucherTerms, now: Date): Promise<Voucher> {
  const at = now.toISOString();
  await db
    .insertInto("voucher")
    .values({ code_key: voucherCodeKey(terms.code), ...termsToRow(terms), create_time: at, update_time: at })
    .execute();
  return { ...terms, createTime: now, updateTime: now };
}

export async function findVoucher(db: Db, code: string): Promise<Voucher | undefined> {
  const row = await db.selectFrom("voucher").selectAll().where("code_key", "=", voucherCodeKey(code)).executeTakeFirst();
  return row && rowToVoucher(row);
}

/** Writes new terms if the voucher was not changed since `seen` (its update_time); false otherwise. */
export async function updateVoucher(db: Db, seen: Voucher, terms: VoucherTerms, now: Date): Promise<boolean> {
  const { code: _code, ...columns } = termsToRow(terms);
  const result = await db
    .updateTable("voucher")
    .set({ ...columns, update_time: now.toISOString() })
    .where("code_key", "=", voucherCodeKey(seen.code))
    .where("update_time", "=", seen.updateTime.toISOString())
    // A redemption between the read and this write changed the count the admin did not mean to set.
    .where("remaining_redemptions", "=", seen.remainingRedemptions)
    .executeTakeFirst();
  return Number(result.numUpdatedRows) === 1;
}

/** Up to `limit` vouchers by code key, after `afterCodeKey` when given. */
export async function listVouchers(db: Db, limit: number, afterCodeKey?: string): Promise<Voucher[]> {
  let query = db.selectFrom("voucher").selectAll().orderBy("code_key");
  if (afterCodeKey !== undefined) query = query.where("code_key", ">", afterCodeKey);
  const rows = await (isMssql(db) ? query.top(limit) : query.limit(limit)).execute();
  return rows.map(rowToVoucher);
}

/**
 * Takes one redemption of `code` for order `orderId` if the voucher is
 * active, within its validity at `now` and not used up. Returns the voucher
 * as it was redeemed (for its discount), or undefined when it could not be
 * redeemed (nothing is written then; findVoucher and voucherUsability say why).
 * The caller records the discount with recordRedemption in the same transaction.
 */
export async function takeRedemption(db: Db, code: string, now: Date): Promise<Voucher | undefined> {
  const at = now.toISOString();
  const key = voucherCodeKey(code);
  const result = await db
    .updateTable("voucher")
    .set((eb) => ({ remaining_redemptions: eb("remaining_redemptions", "-", 1), update_time: at }))
    .where("code_key", "=", key)
    .where("active", "=", true)
    .where("remaining_redemptions", ">", 0)
    .where((eb) => eb.or([eb("valid_from", "is", null), eb("valid_from", "<=", at)]))
    .where((eb) => eb.or([eb("valid_until", "is", null), eb("valid_until", ">", at)]))
    .executeTakeFirst();
  if (Number(result.numUpdatedRows) !== 1) return undefined;
  return findVoucher(db, code);
}

/** The redemption of order `orderId` (its primary key makes a second one for the same order fail). */
export async function recordRedemption(db: Db, orderId: string, code: string, discount: Money, now: Date): Promise<void> {
  await db
    .insertInto("voucher_redemption")
    .values({
      order_id: orderId,
      voucher_code_key: voucherCodeKey(code),
      discount_minor: discount.amountMinor,
      redeemed_at: now.toISOString(),
      returned_at: null,
    })
    .execute();
}

/**
 * Gives a cancelled order's redemption back to its voucher, once: the
 * redemption is marked returned on the condition that it was not yet, and
 * only the writer that marked it adds the redemption back.
 */
export async function returnRedemption(db: Db, orderId: string, now: Date): Promise<boolean> {
  const redemption = await db.selectFrom("voucher_redemption").select("voucher_code_key").where("order_id", "=", orderId).executeTakeFirst();
  if (redemption === undefined) return false;
  const marked = await db
    .updateTable("voucher_redemption")
    .set({ returned_at: now.toISOString() })
    .where("order_id", "=", orderId)
    .where("returned_at", "is", null)
    .executeTakeFirst();
  if (Number(marked.numUpdatedRows) !== 1) return false;
  await addRedemptionBack(db, redemption.voucher_code_key, now);
  return true;
}

/** One more redemption for the voucher under `codeKey` (returnRedemption's second half). */
export async function addRedemptionBack(db: Db, codeKey: string, now: Date): Promise<void> {
  await db
    .updateTable("voucher")
    .set((eb) => ({ remaining_redemptions: eb("remaining_redemptions", "+", 1), update_time: now.toISOString() }))
    .where("code_key", "=", codeKey)
    .execute();
}

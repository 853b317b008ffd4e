// Password hashing with scrypt (node:crypto) at OWASP's recommended cost.
// The stored string carries its own parameters (PHC string format), so the cost
// can be raised later: old hashes still verify and are re-hashed at the next
// successful sign-in (needsRehash).
import { randomBytes, type ScryptOptions, scrypt as scryptCallback, timingSafeEqual } from "node:crypto";

/** scrypt cost: N = 2^logN, block size r, parallelism p. */
export interface ScryptParams {
  logN: number;
  r: number;
  p: number;
}

/** OWASP Password Storage Cheat Sheet: N=2^17 (128 MiB), r=8, p=1. */
export const owaspScryptParams: ScryptParams = { logN: 17, r: 8, p: 1 };

/** Lowest cost accepted from configuration (tests use it for speed); production refuses less than OWASP's. */
export const minimumScryptLogN = 10;
/** Highest cost a stored hash may ask for: a corrupt or hostile row must not make a sign-in allocate gigabytes. */
const maximumScryptLogN = 20;

const saltBytes = 16;
const keyBytes = 32;
const prefix = "$scrypt$";

export interface PasswordHasher {
  readonly params: ScryptParams;
  hash(password: string): Promise<string>;
  /** Constant-time check of `password` against a stored hash; false for anything unparseable. */
  verify(password: string, stored: string): Promise<boolean>;
  /** True when `stored` was made with other parameters than the current ones. */
  needsRehash(stored: string): boolean;
  /**
   * Does the work of one verify against a throw-away hash and returns false,
   * so a sign-in for an unknown email takes as long as one with a wrong password.
   */
  verifyDummy(password: string): Promise<false>;
}

function scrypt(password: string, salt: Buffer, params: ScryptParams): Promise<Buffer> {
  const N = 2 ** params.logN;
  // Node refuses to allocate more than maxmem (default 32 MiB); scrypt needs 128·N·r·p bytes plus a margin.
  const options: ScryptOptions = { N, r: params.r, p: params.p, maxmem: 128 * N * params.r * params.p + 1024 * 1024 };
  return new Promise((resolve, reject) => {
    // NFKC: the same password typed on another keyboard or OS must give the same bytes.
    scryptCallback(password.normalize("NFKC"), salt, keyBytes, options, (error, key) => (error ? reject(error) : resolve(key)));
  });
}

function encode(params: ScryptParams, salt: Buffer, key: Buffer): string {
  return `${prefix}ln=${params.logN},r=${params.r},p=${params.p}$${salt.toString("base64url")}$${key.toString("base64url")}`;
}

interface ParsedHash {
  params: ScryptParams;
  salt: Buffer;
  key: Buffer;
}

/** Reads `$scrypt$ln=17,r=8,p=1$<salt>$<key>`; undefined when the string is not one we made. */
export function parsePasswordHash(stored: string): ParsedHash | undefined {
  const match = /^\$scrypt\$ln=(\d{1,2}),r=(\d{1,2}),p=(\d{1,2})\$([A-Za-z0-9_-]+)\$([A-Za-z0-9_-]+)$/.exec(stored);
  if (!match) return undefined;
  const [, logN, r, p, salt = "", hash = ""] = match;
  const params = { logN: Number(logN), r: Number(r), p: Number(p) };
  if (params.logN < minimumScryptLogN || params.logN > maximumScryptLogN || params.r < 1 || params.p < 1 || params.r * params.p > 32) return undefined;
  const key = Buffer.from(hash, "base64url");
  if (key.length !== keyBytes) return undefined;
  return { params, salt: Buffer.from(salt, "base64url"), key };
}

export function checkScryptParams(params: ScryptParams): void {
  if (!Number.isInteger(params.logN) || params.logN < minimumScryptLogN || params.logN > maximumScryptLogN) {
    throw new RangeError(
      `scrypt logN must be an integer from ${minimumScryptLogN} to ${maximumScryptLogN} (OWASP: ${owaspScryptParams.logN}); got ${params.logN}`,
    );
  }
  if (!Number.isInteger(params.r) || !Number.isInteger(params.p) || params.r < 1 || params.p < 1 || params.r * params.p > 32) {
    throw new RangeError(`scrypt r and p must be positive integers with r·p ≤ 32; got r=${params.r}, p=${params.p}`);
  }
}

export function createPasswordHasher(params: ScryptParams = owaspScryptParams): PasswordHasher {
  checkScryptParams(params);
  let dummy: Promise<string> | undefined;

  const hasher: PasswordHasher = {
    params,
    async hash(password) {
      const salt = randomBytes(saltBytes);
      return encode(params, salt, await scrypt(password, salt, params));
    },
    async verify(password, stored) {
      const parsed = parsePasswordHash(stored);
      if (!parsed) return false;
      const candidate = await scrypt(password, parsed.salt, parsed.params);
      return timingSafeEqual(candidate, parsed.key);
    },
    needsRehash(stored) {
      const parsed = parsePasswordHash(stored);
      return !parsed || parsed.params.logN !== params.logN || parsed.params.r !== params.r || parsed.params.p !== params.p;
    },
    async verifyDummy(password) {
      dummy ??= hasher.hash(randomBytes(16).toString("base64url"));
      await hasher.verify(password, await dummy);
      return false;
    },
  };
  return hasher;
}

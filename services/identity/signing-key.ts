// Signing keys: generation with jose, the public JWK that may be shown to the
// world, and sealing of the private JWK with AES-256-GCM for storage. No I/O.
import { createCipheriv, createDecipheriv, randomBytes, randomUUID } from "node:crypto";
import { type CryptoKey, exportJWK, generateKeyPair, importJWK, type JWK } from "jose";

/** The asymmetric algorithms identity signs with; verifiers accept exactly these. */
export const signingAlgorithms = ["ES256", "RS256"] as const;
export type SigningAlgorithm = (typeof signingAlgorithms)[number];

/** A signing key as generated or as read back from storage and unsealed. */
export interface SigningKeyMaterial {
  kid: string;
  alg: SigningAlgorithm;
  /** Public members only, with kid, alg and use: what the JWKS serves. */
  publicJwk: JWK;
  privateJwk: JWK;
}

/** A key ready to sign with. */
export interface SigningKey {
  kid: string;
  alg: SigningAlgorithm;
  privateKey: CryptoKey;
}

/** The members a JWK may show publicly, by key type (RFC 7518 §6.2.1, §6.3.1). */
const publicMembers: Record<string, readonly string[]> = {
  EC: ["kty", "crv", "x", "y"],
  RSA: ["kty", "n", "e"],
};

/**
 * A copy of `jwk` with only its public members plus kid/alg/use. Built from an
 * allow-list, so a private member (d, p, q, dp, dq, qi, oth) can never slip into
 * the JWKS whatever the input holds.
 */
export function publicJwkOf(jwk: JWK, kid: string, alg: SigningAlgorithm): JWK {
  const members = publicMembers[jwk.kty ?? ""];
  if (!members) throw new Error(`signing key ${kid} has key type "${jwk.kty}"; only EC and RSA keys are served`);
  const result: JWK = { kid, alg, use: "sig" };
  for (const member of members) {
    const value = (jwk as Record<string, unknown>)[member];
    if (typeof value !== "string") throw new Error(`signing key ${kid} lacks its public member "${member}"`);
    (result as Record<string, unknown>)[member] = value;
  }
  return result;
}

export async function generateSigningKey(alg: SigningAlgorithm, kid: string = randomUUID()): Promise<SigningKeyMaterial> {
  const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true, ...(alg === "RS256" ? { modulusLength: 2048 } : {}) });
  const privateJwk = await exportJWK(privateKey);
  return { kid, alg, publicJwk: publicJwkOf(await exportJWK(publicKey), kid, alg), privateJwk: { ...privateJwk, kid, alg } };
}

export async function toSigningKey(material: SigningKeyMaterial): Promise<SigningKey> {
  const privateKey = await importJWK(material.privateJwk, material.alg);
  if (privateKey instanceof Uint8Array) throw new Error(`signing key ${material.kid} is not an asymmetric private key`);
  return { kid: material.kid, alg: material.alg, privateKey };
}

/** A 256-bit AES key that seals private signing keys at rest. */
export interface KeyEncryptionKey {
  readonly bytes: Buffer;
}

/**
 * Reads a key-encryption key: 32 bytes as base64, base64url or 64 hex digits
 * (`openssl rand -base64 32`). The error names `variable` and the accepted forms.
 */
export function parseKeyEncryptionKey(value: string, variable: string): KeyEncryptionKey {
  const text = value.trim();
  let bytes: Buffer | undefined;
  if (/^[0-9a-fA-F]{64}$/.test(text)) bytes = Buffer.from(text, "hex");
  else if (/^[A-Za-z0-9+/_-]{43}=?$/.test(text)) bytes = Buffer.from(text.replace(/=$/, ""), "base64url");
  if (bytes?.length !== 32) {
    throw new Error(`${variable} must be 32 random bytes as base64 (44 characters) or hex (64 digits); create one with: openssl rand -base64 32`);
  }
  return { bytes };
}

export function generateKeyEncryptionKey(): KeyEncryptionKey {
  return { bytes: randomBytes(32) };
}

const sealVersion = "v1";

/**
 * Encrypts a private JWK with AES-256-GCM: `v1.<iv>.<tag>.<ciphertext>` in
 * base64url. The kid is the additional authenticated data, so a sealed key
 * copied onto another row does not open.
 */
export function sealPrivateJwk(jwk: JWK, kid: string, kek: KeyEncryptionKey): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv("aes-256-gcm", kek.bytes, iv);
  cipher.setAAD(Buffer.from(kid, "utf8"));
  const ciphertext = Buffer.concat([cipher.update(JSON.stringify(jwk), "utf8"), cipher.final()]);
  return [sealVersion, iv.toString("base64url"), cipher.getAuthTag().toString("base64url"), ciphertext.toString("base64url")].join(".");
}

/** Thrown when a sealed key does not open: another key-encryption key, or tampering. */
export class SealedKeyError extends Error {
  override readonly name = "SealedKeyError";
}

export function openSealedPrivateJwk(sealed: string, kid: string, kek: KeyEncryptionKey): JWK {
  const [version, iv, tag, ciphertext] = sealed.split(".");
  if (version !== sealVersion || iv === undefined || tag === undefined || ciphertext === undefined) {
    throw new SealedKeyError(`signing key ${kid} is not sealed in a known format`);
  }
  try {
    const decipher = createDecipheriv("aes-256-gcm", kek.bytes, Buffer.from(iv, "base64url"));
    decipher.setAAD(Buffer.from(kid, "utf8"));
    decipher.setAuthTag(Buffer.from(tag, "base64url"));
    const plain = Buffer.concat([decipher.update(Buffer.from(ciphertext, "base64url")), decipher.final()]);
    return JSON.parse(plain.toString("utf8")) as JWK;
  } catch (error) {
    throw new SealedKeyError(`signing key ${kid} does not open with the configured key-encryption key (was it sealed under another one?)`, { cause: error });
  }
}

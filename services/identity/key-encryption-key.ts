// Where the key that seals private signing keys comes from: the environment in
// production (loadIdentityConfig refuses to start without it), otherwise a
// generated development key kept in a local file so restarts and the
// `keys rotate` CLI can open what the service sealed.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import type { Logger } from "../../platform/log/index.js";
import { generateKeyEncryptionKey, type KeyEncryptionKey, parseKeyEncryptionKey } from "./signing-key.js";

export const keyEncryptionKeyVariable = "MEL_IDENTITY_KEY_ENCRYPTION_KEY";

export interface ResolveKeyEncryptionKeyOptions {
  /** MEL_IDENTITY_KEY_ENCRYPTION_KEY as configured. */
  configured: string | undefined;
  production: boolean;
  /** Outside production: the file holding the generated key. */
  devKeyFile: string;
  logger: Logger;
}

export function resolveKeyEncryptionKey({ configured, production, devKeyFile, logger }: ResolveKeyEncryptionKeyOptions): KeyEncryptionKey {
  if (configured !== undefined) return parseKeyEncryptionKey(configured, keyEncryptionKeyVariable);
  if (production) {
    throw new Error(`${keyEncryptionKeyVariable} is required in production: 32 random bytes as base64, e.g. from \`openssl rand -base64 32\``);
  }
  if (!existsSync(devKeyFile)) {
    const key = generateKeyEncryptionKey();
    mkdirSync(dirname(devKeyFile), { recursive: true });
    try {
      // wx: of two processes starting together, one writes and both read that one back.
      writeFileSync(devKeyFile, `${key.bytes.toString("base64")}\n`, { mode: 0o600, flag: "wx" });
      logger.warn({ file: devKeyFile }, `${keyEncryptionKeyVariable} is not set: generated a development key-encryption key; set it outside development`);
      return key;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
    }
  }
  logger.warn(
    { file: devKeyFile },
    `${keyEncryptionKeyVariable} is not set: sealing signing keys with the development key from the file; set it outside development`,
  );
  return parseKeyEncryptionKey(readFileSync(devKeyFile, "utf8"), devKeyFile);
}

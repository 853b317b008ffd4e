import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { importJWK, jwtVerify, SignJWT } from "jose";
import {
  generateKeyEncryptionKey,
  generateSigningKey,
  openSealedPrivateJwk,
  parseKeyEncryptionKey,
  publicJwkOf,
  SealedKeyError,
  sealPrivateJwk,
  toSigningKey,
} from "./signing-key.js";

const privateMembers = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

describe("signing keys", () => {
  for (const alg of ["ES256", "RS256"] as const) {
    it(`generates ${alg} keys whose public JWK verifies what the private one signs`, async () => {
      const material = await generateSigningKey(alg);
      assert.equal(material.publicJwk.alg, alg);
      assert.equal(material.publicJwk.use, "sig");
      assert.equal(material.publicJwk.kid, material.kid);
      for (const member of privateMembers) assert.equal(member in material.publicJwk, false, `public JWK has "${member}"`);
      const key = await toSigningKey(material);
      const token = await new SignJWT({}).setProtectedHeader({ alg, kid: key.kid }).setSubject("s").sign(key.privateKey);
      const { payload } = await jwtVerify(token, await importJWK(material.publicJwk, alg));
      assert.equal(payload.sub, "s");
    });
  }

  it("keeps only public members when building a public JWK, whatever it is given", async () => {
    const material = await generateSigningKey("RS256");
    const jwk = publicJwkOf({ ...material.privateJwk, extra: "x" } as never, material.kid, "RS256");
    assert.deepEqual(Object.keys(jwk).sort(), ["alg", "e", "kid", "kty", "n", "use"]);
  });

  it("seals a private key with AES-256-GCM so that only the same key-encryption key and kid open it", async () => {
    const material = await generateSigningKey("ES256");
    const kek = generateKeyEncryptionKey();
    const sealed = sealPrivateJwk(material.privateJwk, material.kid, kek);
    assert.equal(sealed.includes(material.privateJwk.d!), false, "the private scalar must not appear in clear");
    assert.match(sealed, /^v1\.[\w-]{16}\.[\w-]{22}\.[\w-]+$/);
    assert.deepEqual(openSealedPrivateJwk(sealed, material.kid, kek), material.privateJwk);
    assert.throws(() => openSealedPrivateJwk(sealed, material.kid, generateKeyEncryptionKey()), SealedKeyError);
    assert.throws(() => openSealedPrivateJwk(sealed, "another-kid", kek), SealedKeyError);
    const [version, iv, tag, ciphertext] = sealed.split(".");
    const flipped = `${ciphertext!.startsWith("A") ? "B" : "A"}${ciphertext!.slice(1)}`;
    assert.throws(() => openSealedPrivateJwk([version, iv, tag, flipped].join("."), material.kid, kek), SealedKeyError);
  });

  it("reads a key-encryption key as base64 or hex and explains the format otherwise", () => {
    const bytes = Buffer.alloc(32, 7);
    assert.deepEqual(parseKeyEncryptionKey(bytes.toString("base64"), "X").bytes, bytes);
    assert.deepEqual(parseKeyEncryptionKey(bytes.toString("base64url"), "X").bytes, bytes);
    assert.deepEqual(parseKeyEncryptionKey(bytes.toString("hex"), "X").bytes, bytes);
    assert.throws(
      () => parseKeyEncryptionKey("too-short", "MEL_IDENTITY_KEY_ENCRYPTION_KEY"),
      /MEL_IDENTITY_KEY_ENCRYPTION_KEY must be 32 random bytes.*openssl rand -base64 32/,
    );
    assert.throws(() => parseKeyEncryptionKey(Buffer.alloc(16).toString("base64"), "X"), /32 random bytes/);
  });
});

// The demo catalogue's pictures are files the storefront ships: every item's
// pictureUrl names one in web/public/pictures (written by scripts/demo-pictures.ts).
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { demoItems, demoPictureSlug, demoPictureUrl } from "./demo-catalog.js";

const publicFolder = resolve(dirname(fileURLToPath(import.meta.url)), "../../web/public");

describe("demo catalogue pictures", () => {
  it("every demo item's pictureUrl is a file under web/public/pictures", () => {
    const missing = demoItems.map((item) => demoPictureUrl(item.name)).filter((url) => !existsSync(join(publicFolder, url)));
    assert.deepEqual(missing, []);
  });

  it("picture names are the item names without accents or punctuation", () => {
    assert.equal(demoPictureSlug("Boné Lojas Mel"), "bone-lojas-mel");
    assert.equal(demoPictureSlug("Kit Dedo de Mel (3 colheres)"), "kit-dedo-de-mel-3-colheres");
  });
});

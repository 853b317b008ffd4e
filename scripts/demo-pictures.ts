// Writes the demo catalogue's pictures (small SVGs, one per item, coloured by
// type) into web/public/pictures, which vite copies into the storefront build
// and the gateway serves at /pictures/. Run after changing the demo items:
//   npx tsx scripts/demo-pictures.ts
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { demoItems, demoPictureSlug } from "../services/catalog/demo-catalog.js";

const folder = resolve(dirname(fileURLToPath(import.meta.url)), "../web/public/pictures");

const colours: Record<string, [string, string]> = {
  Mel: ["#f2b705", "#7a5200"],
  Camiseta: ["#ffd166", "#264653"],
  Caneca: ["#e9c46a", "#6d2e46"],
  Boné: ["#f4a261", "#1d3557"],
  Mochila: ["#d4a373", "#283618"],
  Casa: ["#fefae0", "#bc6c25"],
};

function escapeXml(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

// Words over at most three lines of about 16 characters.
function lines(name: string): string[] {
  const out: string[] = [];
  for (const word of name.split(" ")) {
    const last = out.at(-1);
    if (last !== undefined && `${last} ${word}`.length <= 16) out[out.length - 1] = `${last} ${word}`;
    else out.push(word);
  }
  return out.slice(0, 3);
}

function hexagon(cx: number, cy: number, r: number): string {
  return Array.from({ length: 6 }, (_, i) => {
    const angle = (Math.PI / 3) * i + Math.PI / 6;
    return `${(cx + r * Math.cos(angle)).toFixed(1)},${(cy + r * Math.sin(angle)).toFixed(1)}`;
  }).join(" ");
}

function picture(name: string, type: string): string {
  const [background, ink] = colours[type] ?? ["#f2b705", "#1f1a14"];
  const text = lines(name)
    .map((line, index) => `<text x="160" y="${226 + index * 24}" text-anchor="middle">${escapeXml(line)}</text>`)
    .join("");
  return `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 320 320" width="320" height="320" role="img">
<title>${escapeXml(name)}</title>
<rect width="320" height="320" fill="${background}"/>
<polygon points="${hexagon(160, 120, 78)}" fill="none" stroke="${ink}" stroke-width="10"/>
<polygon points="${hexagon(160, 120, 44)}" fill="${ink}" opacity="0.85"/>
<g font-family="sans-serif" font-size="22" font-weight="700" fill="${ink}">${text}</g>
<text x="160" y="306" text-anchor="middle" font-family="sans-serif" font-size="14" fill="${ink}">${escapeXml(type)}</text>
</svg>
`;
}

mkdirSync(folder, { recursive: true });
for (const item of demoItems) writeFileSync(join(folder, `${demoPictureSlug(item.name)}.svg`), picture(item.name, item.type));
writeFileSync(join(folder, "placeholder.svg"), picture("Lojas Mel", "Mel"));
writeFileSync(
  join(folder, "favicon.svg"),
  `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 64" role="img"><title>Lojas Mel</title><polygon points="${hexagon(32, 32, 28)}" fill="#f2b705" stroke="#1f1a14" stroke-width="5"/></svg>\n`,
);
console.log(`wrote ${demoItems.length + 2} pictures to ${folder}`);

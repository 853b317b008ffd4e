// The demo catalogue of Lojas Mel, written on first start so a fresh mesh has
// something to sell. Ids are derived from names, so the same item has the same
// id in every fresh database (handy for docs, curl and demos).
import { createHash } from "node:crypto";
import type { Kysely } from "kysely";
import type { ItemDraft } from "./item.js";
import { insertBrand, insertItem, insertType } from "./item.repository.js";
import type { CatalogDatabase } from "./item.table.js";

const brands = ["Mel Original", "Abelha Rainha", "Favo & Cia", "Colmeia Urbana", "Jataí"] as const;
const types = ["Mel", "Camiseta", "Caneca", "Boné", "Mochila", "Casa"] as const;

type Brand = (typeof brands)[number];
type Type = (typeof types)[number];

interface DemoItem {
  name: string;
  description: string;
  /** BRL centavos. */
  price: number;
  brand: Brand;
  type: Type;
  stock: number;
}

const items: DemoItem[] = [
  {
    name: "Mel Silvestre 500 g",
    description: "Mel puro de florada silvestre do sul de Minas, pote de vidro.",
    price: 3490,
    brand: "Mel Original",
    type: "Mel",
    stock: 80,
  },
  { name: "Mel de Laranjeira 300 g", description: "Florada de laranjeira, claro e suave.", price: 2690, brand: "Mel Original", type: "Mel", stock: 60 },
  { name: "Mel de Eucalipto 1 kg", description: "Sabor marcante, ideal para chás.", price: 5990, brand: "Abelha Rainha", type: "Mel", stock: 40 },
  { name: "Mel de Jataí 250 g", description: "Mel de abelha sem ferrão, mais líquido e ácido.", price: 8900, brand: "Jataí", type: "Mel", stock: 15 },
  { name: "Favo de Mel 400 g", description: "Favo inteiro em caixa de madeira.", price: 6490, brand: "Favo & Cia", type: "Mel", stock: 20 },
  { name: "Mel com Própolis 280 g", description: "Mel silvestre com extrato de própolis verde.", price: 3990, brand: "Abelha Rainha", type: "Mel", stock: 50 },
  {
    name: "Sachês de Mel (caixa com 30)",
    description: "Sachês individuais de 10 g para levar na bolsa.",
    price: 2490,
    brand: "Mel Original",
    type: "Mel",
    stock: 100,
  },
  { name: "Melado de Cana 500 g", description: "Produzido no mesmo apiário, sem conservantes.", price: 1890, brand: "Colmeia Urbana", type: "Mel", stock: 45 },
  {
    name: "Camiseta Abelha Bordada",
    description: "Algodão orgânico, abelha bordada no peito.",
    price: 7990,
    brand: "Colmeia Urbana",
    type: "Camiseta",
    stock: 70,
  },
  {
    name: "Camiseta Colmeia Hexágonos",
    description: "Estampa de hexágonos em tinta à base d'água.",
    price: 6990,
    brand: "Colmeia Urbana",
    type: "Camiseta",
    stock: 65,
  },
  { name: "Camiseta Lojas Mel Clássica", description: "A camiseta amarela da casa.", price: 5990, brand: "Mel Original", type: "Camiseta", stock: 120 },
  { name: "Camiseta Infantil Zangão", description: "Para os pequenos, tamanhos 2 a 12.", price: 4990, brand: "Favo & Cia", type: "Camiseta", stock: 55 },
  { name: "Camiseta Jataí Nativa", description: "Homenagem às abelhas nativas do Brasil.", price: 7490, brand: "Jataí", type: "Camiseta", stock: 35 },
  { name: "Regata Verão no Apiário", description: "Malha leve, modelagem solta.", price: 5490, brand: "Colmeia Urbana", type: "Camiseta", stock: 40 },
  { name: "Caneca Favo Esmaltada", description: "Caneca de ágata de 350 ml, estampa de favo.", price: 4590, brand: "Favo & Cia", type: "Caneca", stock: 90 },
  { name: "Caneca Bom Dia com Mel", description: "Cerâmica, 300 ml, vai ao micro-ondas.", price: 3990, brand: "Mel Original", type: "Caneca", stock: 85 },
  {
    name: "Caneca Térmica Abelha Rainha",
    description: "Aço inox, mantém o café quente por 6 horas.",
    price: 8990,
    brand: "Abelha Rainha",
    type: "Caneca",
    stock: 30,
  },
  { name: "Xícara de Chá Jataí", description: "Porcelana com pires, pintada à mão.", price: 5490, brand: "Jataí", type: "Caneca", stock: 25 },
  { name: "Caneca Colmeia Urbana", description: "Caneca de vidro duplo, 250 ml.", price: 4990, brand: "Colmeia Urbana", type: "Caneca", stock: 40 },
  { name: "Boné Abelha Dourada", description: "Aba curva, bordado dourado.", price: 6990, brand: "Abelha Rainha", type: "Boné", stock: 50 },
  { name: "Boné Trucker Colmeia", description: "Tela respirável na parte de trás.", price: 5990, brand: "Colmeia Urbana", type: "Boné", stock: 45 },
  { name: "Chapéu de Apicultor Decorativo", description: "Réplica para fotos e festas juninas.", price: 9990, brand: "Favo & Cia", type: "Boné", stock: 12 },
  { name: "Boné Lojas Mel", description: "Amarelo com logotipo preto.", price: 4990, brand: "Mel Original", type: "Boné", stock: 75 },
  { name: "Mochila Favo 20 L", description: "Lona encerada, bolso para notebook.", price: 18990, brand: "Favo & Cia", type: "Mochila", stock: 25 },
  { name: "Mochila Urbana Colmeia", description: "Impermeável, alças acolchoadas.", price: 21990, brand: "Colmeia Urbana", type: "Mochila", stock: 20 },
  { name: "Ecobag Abelhinha", description: "Sacola de algodão cru para a feira.", price: 2990, brand: "Mel Original", type: "Mochila", stock: 150 },
  { name: "Pochete Jataí", description: "Pequena, com zíper de metal.", price: 7990, brand: "Jataí", type: "Mochila", stock: 30 },
  { name: "Vela de Cera de Abelha", description: "Cera pura, queima limpa por 40 horas.", price: 3490, brand: "Favo & Cia", type: "Casa", stock: 60 },
  { name: "Kit Dedo de Mel (3 colheres)", description: "Colheres de madeira para servir mel.", price: 2790, brand: "Mel Original", type: "Casa", stock: 80 },
  { name: "Melaceira de Vidro", description: "Pote com tampa e pegador de madeira.", price: 6490, brand: "Abelha Rainha", type: "Casa", stock: 35 },
  {
    name: "Pano de Cera Reutilizável",
    description: "Substitui o filme plástico; três tamanhos.",
    price: 4490,
    brand: "Colmeia Urbana",
    type: "Casa",
    stock: 70,
  },
  { name: "Sabonete de Mel e Aveia", description: "Feito a frio, 120 g.", price: 1990, brand: "Jataí", type: "Casa", stock: 110 },
  { name: "Hidratante Labial de Própolis", description: "Cera de abelha e própolis, 10 g.", price: 1590, brand: "Abelha Rainha", type: "Casa", stock: 140 },
  { name: "Quadro Abelhas do Brasil", description: "Gravura com doze espécies nativas, 30 x 40 cm.", price: 12990, brand: "Jataí", type: "Casa", stock: 10 },
  { name: "Hotel de Abelhas Solitárias", description: "Abrigo de madeira para o jardim.", price: 15990, brand: "Colmeia Urbana", type: "Casa", stock: 8 },
  { name: "Cesta Presente Café da Manhã", description: "Mel, melado, caneca e pano de cera.", price: 19990, brand: "Mel Original", type: "Casa", stock: 15 },
];

/** "Mel Silvestre 500 g" → "mel-silvestre-500-g": file names of the demo pictures. */
export function demoPictureSlug(name: string): string {
  return name
    .normalize("NFD")
    .replace(/[\u0300-\u036f]/g, "")
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-|-$/g, "");
}

/** Where the gateway serves a demo item's picture (web/public/pictures, written by scripts/demo-pictures.ts). */
export function demoPictureUrl(name: string): string {
  return `/pictures/${demoPictureSlug(name)}.svg`;
}

/** Name and type of every demo item, for the picture generator. */
export const demoItems: ReadonlyArray<{ name: string; type: Type }> = items.map(({ name, type }) => ({ name, type }));

/** A UUID-shaped id derived from a name (RFC 4122 version/variant bits set). */
function demoId(kind: string, name: string): string {
  const hex = createHash("sha256").update(`lojas-mel-demo:${kind}:${name}`).digest("hex");
  const variant = ((parseInt(hex.charAt(16), 16) & 0x3) | 0x8).toString(16);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-5${hex.slice(13, 16)}-${variant}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

export const demoCatalogSize = { brands: brands.length, types: types.length, items: items.length } as const;

/** Whether catalog has no brands yet (a fresh database). */
export async function isCatalogEmpty(db: Kysely<CatalogDatabase>): Promise<boolean> {
  return (await db.selectFrom("catalog_brand").select("id").executeTakeFirst()) === undefined;
}

/**
 * Writes the demo catalogue into an empty database, all or nothing. Returns
 * false (and writes nothing) when the catalogue already has data.
 */
export async function seedDemoCatalog(db: Kysely<CatalogDatabase>, now: Date): Promise<boolean> {
  return db.transaction().execute(async (trx) => {
    if (!(await isCatalogEmpty(trx))) return false;
    for (const name of brands) await insertBrand(trx, { id: demoId("brand", name), name });
    for (const name of types) await insertType(trx, { id: demoId("type", name), name });
    for (const item of items) {
      const draft: ItemDraft = {
        name: item.name,
        description: item.description,
        price: { currencyCode: "BRL", amountMinor: item.price },
        brandId: demoId("brand", item.brand),
        typeId: demoId("type", item.type),
        pictureUrl: demoPictureUrl(item.name),
        restockThreshold: Math.ceil(item.stock / 5),
        maxStock: item.stock * 2,
      };
      await insertItem(trx, demoId("item", item.name), draft, item.stock, now);
    }
    return true;
  });
}

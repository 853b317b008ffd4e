// Proto ↔ domain mappers for items, used by the gRPC layer.
import type { CatalogItem } from "../../gen/mel/catalog/v1/catalog.js";
import { ItemSort } from "../../gen/mel/catalog/v1/catalog.js";
import { InvalidArgumentError } from "../../platform/errors/index.js";
import type { Item, ItemDraft } from "./item.js";
import type { ItemOrder } from "./item-query.js";

export function itemToProto(item: Item): CatalogItem {
  return {
    id: item.id,
    name: item.name,
    description: item.description,
    price: { currencyCode: item.price.currencyCode, amountMinor: item.price.amountMinor },
    priceVersion: item.priceVersion,
    brandId: item.brandId,
    typeId: item.typeId,
    pictureUrl: item.pictureUrl,
    availableStock: item.availableStock,
    reservedStock: item.reservedStock,
    restockThreshold: item.restockThreshold,
    maxStock: item.maxStock,
    createTime: item.createTime,
    updateTime: item.updateTime,
    brandName: item.brandName,
    typeName: item.typeName,
  };
}

/** The writable part of a request's item; output-only fields are ignored (AIP-203). */
export function protoToDraft(item: CatalogItem): ItemDraft {
  return {
    name: item.name,
    description: item.description,
    // A missing price becomes an invalid one, so validation names the field.
    price: { currencyCode: item.price?.currencyCode ?? "", amountMinor: item.price?.amountMinor ?? -1 },
    brandId: item.brandId,
    typeId: item.typeId,
    pictureUrl: item.pictureUrl,
    restockThreshold: item.restockThreshold,
    maxStock: item.maxStock,
  };
}

export function sortToOrder(sort: ItemSort): ItemOrder {
  switch (sort) {
    case ItemSort.ITEM_SORT_UNSPECIFIED:
    case ItemSort.ITEM_SORT_NAME_ASC:
      return "name_asc";
    case ItemSort.ITEM_SORT_NAME_DESC:
      return "name_desc";
    case ItemSort.ITEM_SORT_PRICE_ASC:
      return "price_asc";
    case ItemSort.ITEM_SORT_PRICE_DESC:
      return "price_desc";
    default:
      throw new InvalidArgumentError("sort", "must be ITEM_SORT_NAME_ASC, ITEM_SORT_NAME_DESC, ITEM_SORT_PRICE_ASC or ITEM_SORT_PRICE_DESC");
  }
}

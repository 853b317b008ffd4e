// Real gRPC servers on loopback standing in for the services behind the
// gateway: the generated service definitions from gen/ with handlers that
// return controlled data and errors, grpc.health.v1, and the probe service.
// Every call's path, metadata and deadline is recorded for assertions.

import { create, createFileRegistry, toBinary } from "@bufbuild/protobuf";
import type { FileDescriptorSet } from "@bufbuild/protobuf/wkt";
import { anyPack } from "@bufbuild/protobuf/wkt";
import type { ServerErrorResponse, ServerWritableStream } from "@grpc/grpc-js";
import { status as GrpcStatus, Metadata, Server, ServerCredentials } from "@grpc/grpc-js";
import type { ServingStatus } from "grpc-health-check";
import { HealthImplementation } from "grpc-health-check";
import type { CatalogItem, CatalogServiceServer } from "../../gen/mel/catalog/v1/catalog.js";
import { CatalogServiceService } from "../../gen/mel/catalog/v1/catalog.js";
import type { IdentityServiceServer } from "../../gen/mel/identity/v1/identity.js";
import { IdentityServiceService } from "../../gen/mel/identity/v1/identity.js";
import type { Order, OrderingServiceServer, WatchOrderRequest, WatchOrderResponse } from "../../gen/mel/ordering/v1/ordering.js";
import { OrderingServiceService, OrderStatus } from "../../gen/mel/ordering/v1/ordering.js";
import { createProbeService } from "./probe-service.js";

export interface RecordedCall {
  path: string;
  metadata: Metadata;
  deadline: Date | number;
}

export interface FixtureUpstreams {
  address: string;
  calls: RecordedCall[];
  /** Server-streaming calls that ended because the client cancelled them. */
  cancelledStreams: string[];
  /** Ids of GetItem calls ("hold…", which never answer) that ended because the client cancelled them. */
  cancelledCalls: string[];
  /** Every request the probe service received, as raw bytes before decoding. */
  probeRequestBytes: Buffer[];
  health: HealthImplementation;
  lastCall(path: string): RecordedCall | undefined;
  /** How many calls reached `path`. */
  count(path: string): number;
  close(): Promise<void>;
}

export const createTime = new Date("2024-01-02T03:04:05.000Z");

export function fixtureItem(id: string, overrides: Partial<CatalogItem> = {}): CatalogItem {
  return {
    id,
    name: `Item ${id}`,
    description: "",
    price: { currencyCode: "BRL", amountMinor: 1234 },
    priceVersion: 1,
    brandId: "brand-1",
    typeId: "type-1",
    pictureUrl: "",
    availableStock: 7,
    reservedStock: 0,
    restockThreshold: 2,
    maxStock: 100,
    createTime,
    updateTime: createTime,
    brandName: "Mel",
    typeName: "Mug",
    ...overrides,
  };
}

export function fixtureOrder(id: string, status: OrderStatus): Order {
  return {
    id,
    buyerId: "user-1",
    status,
    lines: [{ productId: "item-1", productName: "Item item-1", pictureUrl: "", unitPrice: { currencyCode: "BRL", amountMinor: 1234 }, units: 2 }],
    total: { currencyCode: "BRL", amountMinor: 2468 },
    statusHistory: [],
    createTime,
    checkoutRequestId: "req-1",
    voucherCode: "",
    buyerEmail: "",
  };
}

function fail(code: GrpcStatus, details: string, metadata?: Metadata): ServerErrorResponse {
  return Object.assign(new Error(details), { code, details }, metadata === undefined ? {} : { metadata });
}

/**
 * Ids of the form "status-<CODE NAME>" make GetItem (and WatchOrder) fail with
 * that status; the failure carries trailing metadata "x-failure: forced" and,
 * for FAILED_PRECONDITION, a google.rpc.Status detail (a mel.common.v1.Money).
 */
function forcedFailure(id: string, set: FileDescriptorSet): ServerErrorResponse | undefined {
  const match = /^status-([A-Z_]+)$/.exec(id);
  if (!match) return undefined;
  const code = GrpcStatus[match[1] as keyof typeof GrpcStatus];
  const metadata = new Metadata();
  metadata.set("x-failure", "forced");
  if (code === GrpcStatus.FAILED_PRECONDITION) {
    const registry = createFileRegistry(set);
    const money = registry.getMessage("mel.common.v1.Money")!;
    const statusSchema = registry.getMessage("google.rpc.Status")!;
    const detail = anyPack(money, create(money, { currencyCode: "BRL", amountMinor: 5n } as never));
    const statusBytes = toBinary(statusSchema, create(statusSchema, { code, message: `forced ${match[1]}`, details: [detail] } as never));
    metadata.set("grpc-status-details-bin", Buffer.from(statusBytes));
  }
  return fail(code, `forced ${match[1]}`, metadata);
}

export async function startFixtureUpstreams(set: FileDescriptorSet): Promise<FixtureUpstreams> {
  const server = new Server();
  const calls: RecordedCall[] = [];
  const cancelledStreams: string[] = [];
  const cancelledCalls: string[] = [];
  const record = (path: string, call: { metadata: Metadata; getDeadline(): Date | number }) =>
    calls.push({ path, metadata: call.metadata, deadline: call.getDeadline() });
  // Ids starting "flaky" fail with UNAVAILABLE on their first attempt only.
  const attempts = new Map<string, number>();
  const flaky = (id: string): ServerErrorResponse | undefined => {
    if (!id.startsWith("flaky")) return undefined;
    const count = (attempts.get(id) ?? 0) + 1;
    attempts.set(id, count);
    return count === 1 ? fail(GrpcStatus.UNAVAILABLE, "warming up") : undefined;
  };
  const items = new Map([fixtureItem("item-1"), fixtureItem("item-2", { name: "Plate", brandId: "brand-2" })].map((item) => [item.id, item]));

  const catalog: CatalogServiceServer = {
    listItems(call, callback) {
      record("/mel.catalog.v1.CatalogService/ListItems", call);
      const found = [...items.values()].filter((item) => call.request.brandId === "" || item.brandId === call.request.brandId);
      callback(null, {
        items: found,
        nextPageToken: `size=${call.request.pageSize};sort=${call.request.sort};query=${call.request.query}`,
        totalCount: found.length,
      });
    },
    getItem(call, callback) {
      record("/mel.catalog.v1.CatalogService/GetItem", call);
      const failure = forcedFailure(call.request.id, set) ?? flaky(call.request.id);
      if (failure) return callback(failure);
      if (call.request.id.startsWith("flaky")) return callback(null, { item: fixtureItem(call.request.id) });
      if (call.request.id === "slow") {
        setTimeout(() => callback(null, { item: fixtureItem("slow") }), 2000).unref();
        return;
      }
      if (call.request.id.startsWith("hold")) {
        call.on("cancelled", () => cancelledCalls.push(call.request.id)); // no answer until the client goes away
        return;
      }
      const item = items.get(call.request.id);
      if (!item) return callback(fail(GrpcStatus.NOT_FOUND, `item ${call.request.id} does not exist`));
      const headers = new Metadata();
      headers.set("x-served-by", "catalog-fixture");
      call.sendMetadata(headers);
      callback(null, { item });
    },
    getItemsByIds(call, callback) {
      record("/mel.catalog.v1.CatalogService/GetItemsByIds", call);
      const ids = call.request.ids;
      callback(null, { items: ids.flatMap((id) => (items.has(id) ? [items.get(id)!] : [])), missingIds: ids.filter((id) => !items.has(id)) });
    },
    listBrands(call, callback) {
      record("/mel.catalog.v1.CatalogService/ListBrands", call);
      callback(null, { brands: [{ id: "brand-1", name: "Mel" }] });
    },
    listTypes(call, callback) {
      record("/mel.catalog.v1.CatalogService/ListTypes", call);
      callback(null, { types: [{ id: "type-1", name: "Mug" }] });
    },
    createItem(call, callback) {
      record("/mel.catalog.v1.CatalogService/CreateItem", call);
      callback(null, { item: { ...fixtureItem("item-new"), ...call.request.item, id: "item-new" } });
    },
    updateItem(call, callback) {
      record("/mel.catalog.v1.CatalogService/UpdateItem", call);
      const id = call.request.item?.id ?? "";
      const existing = items.get(id);
      if (!existing) return callback(fail(GrpcStatus.NOT_FOUND, `item ${id} does not exist`));
      const mask = call.request.updateMask ?? [];
      callback(null, { item: { ...existing, name: call.request.item?.name || existing.name, description: `mask=${mask.join(",")}` } });
    },
    deleteItem(call, callback) {
      record("/mel.catalog.v1.CatalogService/DeleteItem", call);
      callback(null, {});
    },
    adjustStock(call, callback) {
      record("/mel.catalog.v1.CatalogService/AdjustStock", call);
      const failure = flaky(call.request.id);
      if (failure) return callback(failure);
      const existing = items.get(call.request.id);
      if (!existing) return callback(fail(GrpcStatus.NOT_FOUND, `item ${call.request.id} does not exist`));
      callback(null, { item: { ...existing, availableStock: existing.availableStock + call.request.delta, description: call.request.reason } });
    },
  };

  const identity: Partial<IdentityServiceServer> = {
    register(call, callback) {
      record("/mel.identity.v1.IdentityService/Register", call);
      callback(null, {
        user: { id: "user-1", email: call.request.email.trim().toLowerCase(), displayName: call.request.displayName, roles: ["buyer"], createTime },
      });
    },
    login(call, callback) {
      record("/mel.identity.v1.IdentityService/Login", call);
      if (call.request.password !== "correct horse") return callback(fail(GrpcStatus.UNAUTHENTICATED, "email or password is wrong"));
      callback(null, { accessToken: "access", refreshToken: "refresh", expiresIn: 900, tokenType: "Bearer", refreshExpiresIn: 86400 });
    },
    me(call, callback) {
      record("/mel.identity.v1.IdentityService/Me", call);
      if (call.metadata.get("authorization").length === 0) return callback(fail(GrpcStatus.UNAUTHENTICATED, "no access token"));
      callback(null, { user: { id: "user-1", email: "ana@example.com", displayName: "Ana", roles: ["buyer"], createTime }, tokenExpireTime: createTime });
    },
    getJwks(call, callback) {
      record("/mel.identity.v1.IdentityService/GetJwks", call);
      callback(null, {
        keys: [
          {
            kty: "EC",
            kid: "key-1",
            use: "sig",
            alg: "ES256",
            crv: "P-256",
            x: "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
            y: "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0",
            n: "",
            e: "",
          },
        ],
      });
    },
  };

  const ordering: Partial<OrderingServiceServer> = {
    getOrder(call, callback) {
      record("/mel.ordering.v1.OrderingService/GetOrder", call);
      callback(null, { order: fixtureOrder(call.request.id, OrderStatus.ORDER_STATUS_SUBMITTED) });
    },
    cancelOrder(call, callback) {
      record("/mel.ordering.v1.OrderingService/CancelOrder", call);
      const order = fixtureOrder(call.request.id, OrderStatus.ORDER_STATUS_CANCELLED);
      order.statusHistory = [{ status: OrderStatus.ORDER_STATUS_CANCELLED, changeTime: createTime, reason: call.request.reason }];
      callback(null, { order });
    },
    watchOrder(call: ServerWritableStream<WatchOrderRequest, WatchOrderResponse>) {
      record("/mel.ordering.v1.OrderingService/WatchOrder", call);
      const id = call.request.id;
      const failure = forcedFailure(id, set);
      if (failure) {
        call.emit("error", failure);
        return;
      }
      const send = (status: OrderStatus) => call.write({ order: fixtureOrder(id, status) });
      call.on("cancelled", () => cancelledStreams.push(id));
      if (id.startsWith("hold")) {
        send(OrderStatus.ORDER_STATUS_SUBMITTED); // then nothing until the client goes away
        return;
      }
      switch (id) {
        case "fail-midway":
          send(OrderStatus.ORDER_STATUS_SUBMITTED);
          setTimeout(() => call.emit("error", fail(GrpcStatus.ABORTED, "order changed concurrently")), 20);
          return;
        case "empty": {
          const trailers = new Metadata();
          trailers.set("x-watch", "none");
          call.end(trailers);
          return;
        }
        default: {
          const statuses = [OrderStatus.ORDER_STATUS_SUBMITTED, OrderStatus.ORDER_STATUS_PAID, OrderStatus.ORDER_STATUS_SHIPPED];
          let index = 0;
          const tick = () => {
            if (call.cancelled) return;
            send(statuses[index++]!);
            if (index < statuses.length) setTimeout(tick, 5);
            else {
              const trailers = new Metadata();
              trailers.set("x-watch", "done");
              call.end(trailers);
            }
          };
          tick();
        }
      }
    },
  };

  server.addService(CatalogServiceService, catalog);
  server.addService(IdentityServiceService, identity as IdentityServiceServer);
  server.addService(OrderingServiceService, ordering as OrderingServiceServer);
  const probeRequestBytes: Buffer[] = [];
  const probe = createProbeService(set, (bytes) => probeRequestBytes.push(bytes));
  server.addService(probe.definition, probe.implementation);
  const health = new HealthImplementation({ "": "SERVING" satisfies ServingStatus });
  health.addToServer(server);

  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", ServerCredentials.createInsecure(), (error, bound) => (error ? reject(error) : resolve(bound))),
  );
  return {
    address: `127.0.0.1:${port}`,
    calls,
    cancelledStreams,
    cancelledCalls,
    probeRequestBytes,
    health,
    lastCall: (path) => calls.findLast((call) => call.path === path),
    count: (path) => calls.filter((call) => call.path === path).length,
    close: async () => server.forceShutdown(),
  };
}

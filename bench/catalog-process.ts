// Catalog as the benchmarks run it: its own process (node services/catalog/main.ts,
// as `npm start` and a container run it) on a fresh SQLite file with the demo
// catalogue, at the configuration's defaults (log level included) unless
// `env` says otherwise, its log lines written to a file.

import { join } from "node:path";
import { Client, credentials } from "@grpc/grpc-js";
import { freePort } from "../test/support/ports.js";
import { BrokerProbe, ensureRabbitMq, rabbitMqUrl, uniqueName } from "../test/support/rabbitmq.js";
import { type BenchProcess, builtEntry, startProcess } from "./processes.js";

export const getItemPath = "/mel.catalog.v1.CatalogService/GetItem";

export interface CatalogProcess {
  process: BenchProcess;
  address: string;
  /** Deletes the exchange and queues it declared. */
  forgetBrokerNames(): Promise<void>;
}

/** `nodeOptions` go before the built entry point (`--import dist/platform/telemetry/register.js`). */
export async function startCatalogProcess(
  workDir: string,
  cores: string | undefined,
  env: NodeJS.ProcessEnv = {},
  nodeOptions: string[] = [],
): Promise<CatalogProcess> {
  await ensureRabbitMq();
  const port = await freePort();
  const prefix = uniqueName("bench-catalog");
  const { command, args } = builtEntry("services/catalog/main.ts", nodeOptions);
  const started = await startProcess({
    name: "catalog",
    command,
    args,
    cores,
    port,
    logFile: join(workDir, "catalog.log"),
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      MEL_RABBITMQ_URL: rabbitMqUrl,
      MEL_EVENTS_EXCHANGE: `${prefix}.events`,
      MEL_CATALOG_QUEUE: `${prefix}.catalog`,
      MEL_CATALOG_HOST: "127.0.0.1",
      MEL_CATALOG_PORT: String(port),
      MEL_CATALOG_DATABASE_URL: `sqlite:${join(workDir, "catalog.db")}`,
      ...env,
    },
  });
  return {
    process: started,
    address: `127.0.0.1:${port}`,
    async forgetBrokerNames() {
      const probe = await BrokerProbe.open();
      await probe.deleteByPrefix(prefix);
      await probe.close();
    },
  };
}

/** One unary call with raw bytes in and out: what the server put on the wire, byte for byte. */
export function callRaw(address: string, path: string, request: Uint8Array): Promise<Buffer> {
  const client = new Client(address, credentials.createInsecure());
  return new Promise<Buffer>((resolve, reject) => {
    client.makeUnaryRequest(
      path,
      (bytes: Buffer) => bytes,
      (bytes: Buffer) => bytes,
      Buffer.from(request),
      { deadline: Date.now() + 10_000 },
      (error, response) => {
        client.close();
        if (error || response === undefined) reject(error ?? new Error(`${path} answered nothing`));
        else resolve(response);
      },
    );
  });
}

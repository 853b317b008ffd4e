// A TCP relay between a test's event bus and the real RabbitMQ, so a test can
// stall or cut that one bus's connection without stopping the broker other
// tests share. Written here because it is a few lines over node:net and the
// fault-injection proxies that exist (toxiproxy) are separate servers.
import { type AddressInfo, createServer, type Server, Socket } from "node:net";
import { rabbitMqUrl } from "../../test/support/rabbitmq.js";

export class BrokerProxy {
  readonly #pairs = new Set<{ client: Socket; broker: Socket }>();
  #refusing = false;
  #accepted = 0;
  #bytesFromClients = 0;

  private constructor(
    private readonly server: Server,
    private readonly brokerHost: string,
    private readonly brokerPort: number,
  ) {
    server.on("connection", (client) => this.relay(client));
  }

  /** Listens on 127.0.0.1:<free port> and relays to the broker at rabbitMqUrl. */
  static async start(): Promise<BrokerProxy> {
    const broker = new URL(rabbitMqUrl);
    const proxy = new BrokerProxy(createServer(), broker.hostname, Number(broker.port || 5672));
    await new Promise<void>((resolve) => proxy.server.listen(0, "127.0.0.1", resolve));
    return proxy;
  }

  /** rabbitMqUrl with the proxy as host: a bus connecting here reaches the real broker. */
  get url(): string {
    const url = new URL(rabbitMqUrl);
    url.hostname = "127.0.0.1";
    url.port = String((this.server.address() as AddressInfo).port);
    return url.toString();
  }

  /** Open connections (one per AMQP connection relayed). */
  get connections(): number {
    return this.#pairs.size;
  }

  /** Connections clients have opened so far, refused ones included. */
  get accepted(): number {
    return this.#accepted;
  }

  /** Bytes clients have sent so far (they keep arriving while stalled): a frame sent shows up here. */
  get bytesFromClients(): number {
    return this.#bytesFromClients;
  }

  /** The broker's frames (confirms, deliveries, replies) stop reaching the clients; what clients send still arrives. */
  stall(): void {
    for (const { client, broker } of this.#pairs) {
      broker.unpipe(client);
      broker.pause();
    }
  }

  /** Drops every open connection, as a network failure or a broker crash would. */
  cutAll(): void {
    for (const { client, broker } of this.#pairs) {
      client.destroy();
      broker.destroy();
    }
    this.#pairs.clear();
  }

  /** While refusing, new connections are dropped at once (the broker looks down). */
  refuse(refusing: boolean): void {
    this.#refusing = refusing;
  }

  async close(): Promise<void> {
    this.cutAll();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private relay(client: Socket): void {
    this.#accepted += 1;
    client.on("error", () => undefined);
    if (this.#refusing) {
      client.destroy();
      return;
    }
    const broker = new Socket();
    broker.on("error", () => undefined);
    const pair = { client, broker };
    this.#pairs.add(pair);
    const drop = () => {
      this.#pairs.delete(pair);
      client.destroy();
      broker.destroy();
    };
    client.on("close", drop);
    broker.on("close", drop);
    broker.connect(this.brokerPort, this.brokerHost, () => {
      client.pipe(broker);
      // Beside the pipe, which starts the flow: nothing sent before the broker connected is missed.
      client.on("data", (chunk: Buffer) => {
        this.#bytesFromClients += chunk.length;
      });
      broker.pipe(client);
    });
  }
}

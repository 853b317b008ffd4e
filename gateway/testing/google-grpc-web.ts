// Google's grpc-web client (a browser library) driven from Node: xhr2 stands
// in for the browser's XMLHttpRequest, and the method descriptors serialize
// with @bufbuild/protobuf schemas taken from the descriptor set at run time.

import type { DescMethod, Message, MessageInitShape } from "@bufbuild/protobuf";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import type { ClientReadableStream, Metadata, Status } from "grpc-web";
import { GrpcWebClientBase, MethodDescriptor, MethodType } from "grpc-web";
import XMLHttpRequest from "xhr2";

(globalThis as { XMLHttpRequest?: unknown }).XMLHttpRequest ??= XMLHttpRequest;

export type GoogleFormat = "text" | "binary";

function descriptorOf(method: DescMethod) {
  const path = `/${method.parent.typeName}/${method.name}`;
  const kind = method.methodKind === "server_streaming" ? MethodType.SERVER_STREAMING : MethodType.UNARY;
  const descriptor = new MethodDescriptor<Message, Message>(
    path,
    kind,
    Object as never,
    Object as never,
    (request: Message) => toBinary(method.input, request),
    (bytes: Uint8Array) => fromBinary(method.output, bytes),
  );
  return { path, descriptor };
}

export function googleUnary(
  baseUrl: string,
  format: GoogleFormat,
  method: DescMethod,
  request: MessageInitShape<DescMethod["input"]>,
  metadata: Metadata = {},
): Promise<Message> {
  const { path, descriptor } = descriptorOf(method);
  const client = new GrpcWebClientBase({ format });
  return client.unaryCall(baseUrl + path, create(method.input, request as never), metadata, descriptor);
}

export interface GoogleStreamResult {
  messages: Message[];
  status?: Status;
  error?: { code: number; message: string };
}

export function googleServerStream(
  baseUrl: string,
  method: DescMethod,
  request: MessageInitShape<DescMethod["input"]>,
  metadata: Metadata = {},
): Promise<GoogleStreamResult> {
  const { path, descriptor } = descriptorOf(method);
  // Google's client streams only in text mode.
  const client = new GrpcWebClientBase({ format: "text" });
  const result: GoogleStreamResult = { messages: [] };
  return new Promise((resolve) => {
    const stream: ClientReadableStream<Message> = client.serverStreaming(baseUrl + path, create(method.input, request as never), metadata, descriptor);
    stream.on("data", (message) => result.messages.push(message));
    stream.on("status", (status) => (result.status = status));
    stream.on("error", (error) => {
      result.error = { code: error.code, message: error.message };
      resolve(result);
    });
    stream.on("end", () => resolve(result));
  });
}

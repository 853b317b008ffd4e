// A test contract for the mapping features the store's protos do not use
// (nested query parameters, response_body, multi-segment variables, enums and
// well-known types in the URL), and a real gRPC server for it that echoes the
// request it received so tests can see exactly what the gateway built.
// The file descriptor is built in code: no protoc at test time.

import type { DescMessage, Message } from "@bufbuild/protobuf";
import { create, createFileRegistry, fromBinary, setExtension, toBinary } from "@bufbuild/protobuf";
import type { GenExtension } from "@bufbuild/protobuf/codegenv2";
import type { FileDescriptorProto, FileDescriptorSet, MethodOptions } from "@bufbuild/protobuf/wkt";
import {
  FieldDescriptorProto_Label,
  FieldDescriptorProto_Type,
  FileDescriptorProtoSchema,
  FileDescriptorSetSchema,
  MethodOptionsSchema,
} from "@bufbuild/protobuf/wkt";
import type { ServiceDefinition, UntypedServiceImplementation } from "@grpc/grpc-js";

export const probeServiceName = "mel.probe.v1.ProbeService";

interface Rule {
  get?: string;
  post?: string;
  put?: string;
  body?: string;
  responseBody?: string;
  additionalBindings?: Rule[];
}

const { OPTIONAL, REPEATED } = FieldDescriptorProto_Label;
const { TYPE_STRING, TYPE_INT32, TYPE_INT64, TYPE_BOOL, TYPE_DOUBLE, TYPE_ENUM, TYPE_MESSAGE } = {
  TYPE_STRING: FieldDescriptorProto_Type.STRING,
  TYPE_INT32: FieldDescriptorProto_Type.INT32,
  TYPE_INT64: FieldDescriptorProto_Type.INT64,
  TYPE_BOOL: FieldDescriptorProto_Type.BOOL,
  TYPE_DOUBLE: FieldDescriptorProto_Type.DOUBLE,
  TYPE_ENUM: FieldDescriptorProto_Type.ENUM,
  TYPE_MESSAGE: FieldDescriptorProto_Type.MESSAGE,
};

function field(name: string, number: number, type: FieldDescriptorProto_Type, options: { repeated?: boolean; typeName?: string } = {}) {
  const jsonName = name.replace(/_([a-z])/g, (_, letter: string) => letter.toUpperCase());
  return { name, number, type, jsonName, label: options.repeated ? REPEATED : OPTIONAL, typeName: options.typeName ?? "" };
}

/**
 * The base descriptor set (gen/descriptor.binpb) plus the probe contract:
 *
 *   service ProbeService {
 *     rpc Echo(EchoRequest) returns (EchoResponse) {
 *       get: "/v1/probe/{id}"
 *       additional_bindings { post: "/v1/probe/{id}" body: "*" }
 *       additional_bindings { put: "/v1/probe/{id}/filter" body: "filter" }
 *       additional_bindings { get: "/v1/probe/kinds/{filter.kind}/items/{id}" }
 *       additional_bindings { get: "/v1/{note=files/**}" }
 *     }
 *     rpc EchoRequestOnly(EchoRequest) returns (EchoResponse) { get: "/v1/probe/{id}:request" response_body: "request" }
 *     rpc EchoNumbers(EchoRequest) returns (EchoResponse) { get: "/v1/probe/{id}:numbers" response_body: "numbers" }
 *   }
 */
export function withProbeService(base: FileDescriptorSet): FileDescriptorSet {
  const baseRegistry = createFileRegistry(base);
  const httpRule = baseRegistry.getExtension("google.api.http");
  const httpRuleMessage = baseRegistry.getMessage("google.api.HttpRule");
  if (!httpRule || !httpRuleMessage) throw new Error("the base descriptor set lacks google/api/http.proto");
  const toHttpRule = (rule: Rule): Message => {
    const pattern =
      rule.get !== undefined
        ? { case: "get", value: rule.get }
        : rule.post !== undefined
          ? { case: "post", value: rule.post }
          : { case: "put", value: rule.put };
    return create(httpRuleMessage, {
      pattern,
      body: rule.body ?? "",
      responseBody: rule.responseBody ?? "",
      additionalBindings: (rule.additionalBindings ?? []).map(toHttpRule),
    } as never);
  };
  const method = (name: string, rule: Rule) => {
    const options = create(MethodOptionsSchema);
    setExtension(options, httpRule as GenExtension<MethodOptions, Message>, toHttpRule(rule));
    return { name, inputType: ".mel.probe.v1.EchoRequest", outputType: ".mel.probe.v1.EchoResponse", options };
  };
  const probeFile: FileDescriptorProto = create(FileDescriptorProtoSchema, {
    name: "mel/probe/v1/probe.proto",
    package: "mel.probe.v1",
    syntax: "proto3",
    dependency: ["google/api/annotations.proto", "google/protobuf/timestamp.proto", "google/protobuf/field_mask.proto"],
    enumType: [
      {
        name: "Color",
        value: [
          { name: "COLOR_UNSPECIFIED", number: 0 },
          { name: "COLOR_RED", number: 1 },
          { name: "COLOR_GREEN", number: 2 },
        ],
      },
    ],
    messageType: [
      {
        name: "Filter",
        field: [
          field("kind", 1, TYPE_STRING),
          field("min_size", 2, TYPE_INT32),
          field("labels", 3, TYPE_STRING, { repeated: true }),
          field("color", 4, TYPE_ENUM, { typeName: ".mel.probe.v1.Color" }),
        ],
      },
      {
        name: "EchoRequest",
        field: [
          field("id", 1, TYPE_STRING),
          field("filter", 2, TYPE_MESSAGE, { typeName: ".mel.probe.v1.Filter" }),
          field("numbers", 3, TYPE_INT64, { repeated: true }),
          field("big", 4, TYPE_INT64),
          field("flag", 5, TYPE_BOOL),
          field("color", 6, TYPE_ENUM, { typeName: ".mel.probe.v1.Color" }),
          field("at", 7, TYPE_MESSAGE, { typeName: ".google.protobuf.Timestamp" }),
          field("mask", 8, TYPE_MESSAGE, { typeName: ".google.protobuf.FieldMask" }),
          field("ratio", 9, TYPE_DOUBLE),
          field("note", 10, TYPE_STRING),
        ],
      },
      {
        name: "EchoResponse",
        field: [
          field("request", 1, TYPE_MESSAGE, { typeName: ".mel.probe.v1.EchoRequest" }),
          field("served_by", 2, TYPE_STRING),
          field("numbers", 3, TYPE_INT64, { repeated: true }),
        ],
      },
    ],
    service: [
      {
        name: "ProbeService",
        method: [
          method("Echo", {
            get: "/v1/probe/{id}",
            additionalBindings: [
              { post: "/v1/probe/{id}", body: "*" },
              { put: "/v1/probe/{id}/filter", body: "filter" },
              { get: "/v1/probe/kinds/{filter.kind}/items/{id}" },
              { get: "/v1/{note=files/**}" },
            ],
          }),
          method("EchoRequestOnly", { get: "/v1/probe/{id}:request", responseBody: "request" }),
          method("EchoNumbers", { get: "/v1/probe/{id}:numbers", responseBody: "numbers" }),
        ],
      },
    ],
  } as never);
  return create(FileDescriptorSetSchema, { file: [...base.file, probeFile] });
}

/**
 * The probe's server side: each RPC answers { request, served_by: "probe", numbers: request.numbers }.
 * `onRequestBytes` sees every request exactly as it arrived on the wire, before decoding.
 */
export function createProbeService(
  set: FileDescriptorSet,
  onRequestBytes: (bytes: Buffer) => void = () => {},
): { definition: ServiceDefinition; implementation: UntypedServiceImplementation } {
  const registry = createFileRegistry(set);
  const service = registry.getService(probeServiceName)!;
  const definition: Record<string, ServiceDefinition[string]> = {};
  const implementation: UntypedServiceImplementation = {};
  for (const rpc of service.methods) {
    definition[rpc.localName] = {
      path: `/${probeServiceName}/${rpc.name}`,
      requestStream: false,
      responseStream: false,
      originalName: rpc.name,
      requestSerialize: (value: Message) => Buffer.from(toBinary(rpc.input, value)),
      requestDeserialize: (bytes: Buffer) => {
        onRequestBytes(Buffer.from(bytes));
        return fromBinary(rpc.input, bytes);
      },
      responseSerialize: (value: Message) => Buffer.from(toBinary(rpc.output, value)),
      responseDeserialize: (bytes: Buffer) => fromBinary(rpc.output, bytes),
    };
    implementation[rpc.localName] = (call: { request: Message & { numbers: bigint[] } }, callback: (error: null, response: Message) => void) => {
      callback(null, create(rpc.output as DescMessage, { request: call.request, servedBy: "probe", numbers: call.request.numbers } as never));
    };
  }
  return { definition, implementation };
}

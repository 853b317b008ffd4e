// The floor of the gRPC benchmark: a bare @grpc/grpc-js server answering one
// method with fixed bytes (the response catalog gave for the same request),
// so its figures are what grpc-js itself costs on this machine: no decoding,
// no database, no logging, no auth. Run as its own process by grpc.bench.ts:
//   node --import tsx bench/bare-grpc-server.ts <port> <method path> <response file>
import { readFileSync } from "node:fs";
import { Server, ServerCredentials, type ServerUnaryCall, type sendUnaryData } from "@grpc/grpc-js";

const [port, path, responseFile] = process.argv.slice(2);
if (port === undefined || path === undefined || responseFile === undefined) {
  process.stderr.write("usage: bare-grpc-server.ts <port> <method path> <response file>\n");
  process.exit(2);
}
const response = readFileSync(responseFile);
const passthrough = (bytes: Buffer) => bytes;

const server = new Server();
server.addService(
  {
    method: {
      path,
      requestStream: false,
      responseStream: false,
      requestSerialize: passthrough,
      requestDeserialize: passthrough,
      responseSerialize: passthrough,
      responseDeserialize: passthrough,
    },
  },
  { method: (_call: ServerUnaryCall<Buffer, Buffer>, callback: sendUnaryData<Buffer>) => callback(null, response) },
);
server.bindAsync(`127.0.0.1:${port}`, ServerCredentials.createInsecure(), (error) => {
  if (error) {
    process.stderr.write(`bare gRPC server: ${error.message}\n`);
    process.exit(1);
  }
});
process.once("SIGTERM", () => server.tryShutdown(() => process.exit(0)));

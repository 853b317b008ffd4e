// Every identity RPC with request fields, each bad input in turn:
// INVALID_ARGUMENT with reason FIELD_INVALID and a BadRequest naming the field
// (proto spelling, as in the request). Me, GetJwks and RotateSigningKey take no fields.
import { after, before, describe, it } from "node:test";
import { credentials } from "@grpc/grpc-js";
import type { IdentityServiceClient } from "../../gen/mel/identity/v1/identity.js";
import { SessionRevocationServiceClient } from "../../gen/mel/identity/v1/session_revocations.js";
import { callUnary, type UnaryMethodName } from "../../platform/grpc/index.js";
import { assertInvalidField } from "../../test/support/status-details.js";
import { signInAdmin, startTestIdentity, type TestIdentity, testPassword } from "./identity.test-support.js";

type Case = [method: UnaryMethodName<IdentityServiceClient>, field: string, request: object];

const validUserId = "0b6f5c9e-2f1a-4c53-9a51-0d3c1f1e7a10";
const cases: Case[] = [
  ["register", "email", { email: "", password: testPassword, displayName: "" }],
  ["register", "email", { email: "not-an-email", password: testPassword, displayName: "" }],
  ["register", "password", { email: "ana@example.com", password: "short", displayName: "" }],
  ["register", "display_name", { email: "ana@example.com", password: testPassword, displayName: "a\u0007b" }],
  ["login", "email", { email: "", password: testPassword }],
  ["login", "password", { email: "ana@example.com", password: "" }],
  ["refresh", "refresh_token", { refreshToken: "" }],
  ["logout", "refresh_token", { refreshToken: "r".repeat(600) }],
  ["grantRole", "user_id", { userId: "not-a-uuid", role: "admin" }],
  ["grantRole", "role", { userId: validUserId, role: "" }],
  ["revokeRole", "user_id", { userId: "", role: "admin" }],
  ["revokeRole", "role", { userId: validUserId, role: "" }],
];

describe("IdentityService and SessionRevocationService: each bad input names its field", () => {
  let identity: TestIdentity;
  let adminToken: string;
  let revocations: SessionRevocationServiceClient;

  before(async () => {
    identity = await startTestIdentity("sqlite");
    adminToken = (await signInAdmin(identity)).accessToken;
    revocations = new SessionRevocationServiceClient(identity.address, credentials.createInsecure());
  });

  after(async () => {
    revocations?.close();
    await identity?.stop();
  });

  for (const [method, field, request] of cases) {
    it(`${method} with a bad ${field} answers INVALID_ARGUMENT naming ${field}`, async () => {
      await assertInvalidField(identity.call(method, request as never, adminToken), field);
    });
  }

  it("listSessionRevocations with a bad page_size answers INVALID_ARGUMENT naming page_size", async () => {
    await assertInvalidField(callUnary(revocations, "listSessionRevocations", { pageSize: -1, pageToken: "" }), "page_size");
  });

  it("listSessionRevocations with a bad page_token answers INVALID_ARGUMENT naming page_token", async () => {
    await assertInvalidField(callUnary(revocations, "listSessionRevocations", { pageSize: 0, pageToken: "not-a-token" }), "page_token");
  });
});

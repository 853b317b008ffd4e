// The refresh token over gRPC-Web travels in a cookie, because its fields are
// annotated (mel.options.v1.http_cookie): the gateway in front of a real
// identity service, called with connect-web's gRPC-Web transport as the
// storefront calls it, cookies carried by hand as a browser would.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Code, ConnectError, createClient, type Interceptor } from "@connectrpc/connect";
import { createGrpcWebTransport } from "@connectrpc/connect-web";
import { IdentityService } from "../gen/web/mel/identity/v1/identity_pb.js";
import { createLogger } from "../platform/log/index.js";
import { startTestIdentity, type TestIdentity, testPassword, uniqueEmail } from "../services/identity/identity.test-support.js";
import { loadGatewayConfig } from "./config.js";
import { readDescriptorSet } from "./descriptors.js";
import { type RunningGateway, startGateway } from "./gateway.js";
import { descriptorPath } from "./testing/test-stack.js";

let identity: TestIdentity;
let gateway: RunningGateway;

before(async () => {
  identity = await startTestIdentity("sqlite");
  const config = { ...loadGatewayConfig({}), host: "127.0.0.1", port: 0, upstreams: { "mel.identity.v1.IdentityService": identity.address } };
  gateway = await startGateway(config, { descriptorSet: readDescriptorSet(descriptorPath), logger: createLogger({ service: "gateway", level: "silent" }) });
});

after(async () => {
  await gateway?.close();
  await identity?.stop();
});

/** A browser's view: the Set-Cookie headers it received, and the cookie it would send next. */
function browserLike() {
  const received: string[] = [];
  let cookie = "";
  const jar: Interceptor = (next) => async (request) => {
    if (cookie !== "") request.header.set("cookie", cookie);
    const response = await next(request).catch((error: unknown) => {
      if (error instanceof ConnectError) keep(error.metadata.getSetCookie());
      throw error;
    });
    keep(response.header.getSetCookie());
    return response;
  };
  function keep(setCookies: string[]) {
    received.push(...setCookies);
    for (const line of setCookies) {
      const pair = line.split(";", 1)[0] ?? "";
      cookie = /max-age=0/i.test(line) ? "" : pair;
    }
  }
  const client = createClient(IdentityService, createGrpcWebTransport({ baseUrl: gateway.url, interceptors: [jar] }));
  return {
    client,
    received,
    cookie: () => cookie,
    setCookie: (value: string) => {
      cookie = value;
    },
  };
}

async function registered(): Promise<string> {
  const email = uniqueEmail("cookie");
  await identity.call("register", { email, password: testPassword, displayName: "" });
  return email;
}

describe("refresh token cookie on gRPC-Web", () => {
  it("Login answers with the refresh token in an HttpOnly, Secure, SameSite=Strict cookie for identity's paths, and not in the message", async () => {
    const browser = browserLike();
    const login = await browser.client.login({ email: await registered(), password: testPassword });
    assert.equal(login.refreshToken, "");
    assert.notEqual(login.accessToken, "");
    assert.equal(browser.received.length, 1);
    assert.match(
      browser.received[0] ?? "",
      new RegExp(`^mel_refresh=[^;]+; Max-Age=${login.refreshExpiresIn}; Path=/mel.identity.v1.IdentityService/; HttpOnly; Secure; SameSite=Strict$`),
    );
  });

  it("Refresh with an empty field spends the cookie and sets the next one", async () => {
    const browser = browserLike();
    await browser.client.login({ email: await registered(), password: testPassword });
    const first = browser.cookie();
    const refreshed = await browser.client.refresh({});
    assert.notEqual(refreshed.accessToken, "");
    assert.equal(refreshed.refreshToken, "");
    assert.notEqual(browser.cookie(), first);
    assert.match(browser.cookie(), /^mel_refresh=.+/);
  });

  it("Refresh with a spent cookie is refused and ends the cookie", async () => {
    const browser = browserLike();
    await browser.client.login({ email: await registered(), password: testPassword });
    const spent = browser.cookie();
    await browser.client.refresh({});
    browser.setCookie(spent);
    const error = await browser.client.refresh({}).then(
      () => assert.fail("a spent refresh token was accepted"),
      (rejection: unknown) => rejection,
    );
    assert.ok(error instanceof ConnectError);
    assert.equal(error.code, Code.Unauthenticated);
    assert.match(browser.received.at(-1) ?? "", /^mel_refresh=; Max-Age=0; Path=\/mel.identity.v1.IdentityService\/; HttpOnly; Secure; SameSite=Strict$/);
    assert.equal(browser.cookie(), "");
  });

  it("Logout revokes the cookie's token and ends the cookie", async () => {
    const browser = browserLike();
    await browser.client.login({ email: await registered(), password: testPassword });
    const before = browser.cookie();
    await browser.client.logout({});
    assert.match(browser.received.at(-1) ?? "", /^mel_refresh=; Max-Age=0;/);
    browser.setCookie(before);
    const error = await browser.client.refresh({}).then(
      () => assert.fail("a logged-out refresh token was accepted"),
      (rejection: unknown) => rejection,
    );
    assert.ok(error instanceof ConnectError);
    assert.equal(error.code, Code.Unauthenticated);
  });

  it("HTTP/JSON clients keep the refresh token in the body and get no cookie", async () => {
    const email = await registered();
    const response = await fetch(`${gateway.url}/api/v1/identity/login`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ email, password: testPassword }),
    });
    assert.equal(response.status, 200);
    assert.equal(response.headers.get("set-cookie"), null);
    const body = (await response.json()) as { refreshToken: string };
    assert.notEqual(body.refreshToken, "");
  });
});

// The Expo example's flow logic against the real demo and its emulator:
// the same module App.tsx runs, with node's fetch in place of React
// Native's and a scripted user in place of the auth session's browser.
import assert from "node:assert/strict";
import { afterEach, beforeEach, test } from "node:test";

import { createClient, parseReturn, type AuthSessionResult, type Deps } from "../src/connections";
import { control, deepLink, signIn, startDemo, userOnPage, type Demo } from "./demo";

let demo: Demo;
beforeEach(async () => {
  demo = await startDemo();
});
afterEach(async () => {
  await demo.stop();
});

/** A phone: the module's deps, with a record of what it fetched and a clock the test moves. */
async function phone(user: string, openAuthSession: Deps["openAuthSession"], afterFetch?: (url: string) => void) {
  const token = await signIn(demo.app, user);
  const calls: string[] = [];
  const clock = { ms: 1_000_000 };
  const client = createClient({
    backend: demo.app,
    returnURL: deepLink,
    token: () => token,
    now: () => clock.ms,
    openAuthSession,
    fetch: async (url, init) => {
      const res = await fetch(url, init);
      calls.push(`${init?.method ?? "GET"} ${new URL(url).pathname} ${res.status}`);
      afterFetch?.(url);
      return res;
    },
  });
  return { client, calls, clock, token };
}

const providers = (r: { connections: { providerId: string }[] }) => r.connections.map((c) => c.providerId).sort();

test("success: the user connects Google and taps Done; the app posts the state and shows the new list", async () => {
  const opened: string[] = [];
  const { client, calls } = await phone("alice", async (url, returnURL) => {
    assert.equal(returnURL, deepLink);
    opened.push(url);
    return userOnPage(url, ["google"]);
  });
  const r = await client.manage();
  assert.equal(r.kind, "returned");
  assert.ok(r.kind === "returned");
  assert.equal(r.outcome, "success");
  assert.deepEqual(providers(r), ["google", "notion"]);
  assert.equal(opened.length, 1);
  assert.match(opened[0], /^http:\/\/127\.0\.0\.1:\d+\/white-label\?code=/);
  assert.deepEqual(calls, ["GET /manage-connections 200", "POST /connections/return 200", "GET /api/connections 200"]);
});

test("cancel: the user closes the page; nothing is posted, and the next try works", async () => {
  let cancel = true;
  const { client, calls } = await phone("alice", async (url): Promise<AuthSessionResult> => {
    if (cancel) return { type: "cancel" };
    return userOnPage(url, []);
  });
  assert.deepEqual(await client.manage(), { kind: "cancelled" });
  assert.deepEqual(calls, ["GET /manage-connections 200"]);
  cancel = false;
  const r = await client.manage();
  assert.ok(r.kind === "returned" && r.outcome === "success", JSON.stringify(r));
  assert.deepEqual(providers(r), ["notion"]);
});

test("expired code: held up past expiresIn, the app mints a fresh code before opening", async () => {
  let starts = 0;
  const opened: string[] = [];
  const p = await phone(
    "alice",
    async (url) => {
      opened.push(url);
      return userOnPage(url, ["slack"]);
    },
    (url) => {
      // The phone was suspended after the first answer: 31 s pass on its clock.
      if (url.includes("/manage-connections") && ++starts === 1) p.clock.ms += 31_000;
    },
  );
  const r = await p.client.manage();
  assert.ok(r.kind === "returned" && r.outcome === "success", JSON.stringify(r));
  assert.deepEqual(providers(r), ["notion", "slack"]);
  assert.equal(starts, 2);
  assert.equal(opened.length, 1, "only the fresh code is opened");
});

test("expired code: still expired after one fresh code, the app opens nothing", async () => {
  let opened = 0;
  const p = await phone(
    "alice",
    async () => {
      opened++;
      return { type: "cancel" };
    },
    (url) => {
      if (url.includes("/manage-connections")) p.clock.ms += 31_000;
    },
  );
  assert.deepEqual(await p.client.manage(), { kind: "failed", step: "start", outcome: "expired", status: 0 });
  assert.equal(opened, 0);
  assert.deepEqual(p.calls, ["GET /manage-connections 200", "GET /manage-connections 200"]);
});

test("expired code: it dies on BlueNexus's clock before the page opens; the user closes the error page and tries again", async () => {
  let first = true;
  const statuses: number[] = [];
  const { client, calls } = await phone("alice", async (url) => {
    if (first) {
      first = false;
      await control(demo.emulator, "clock", { advance: "31s" });
      const r = await userOnPage(url, []);
      assert.equal(r.type, "dismiss");
      if (r.type === "dismiss") statuses.push(r.status);
      return { type: "dismiss" };
    }
    return userOnPage(url, ["github"]);
  });
  assert.deepEqual(await client.manage(), { kind: "cancelled" });
  assert.deepEqual(statuses, [410]);
  assert.deepEqual(calls, ["GET /manage-connections 200"]);
  const r = await client.manage();
  assert.ok(r.kind === "returned" && r.outcome === "success", JSON.stringify(r));
  assert.deepEqual(providers(r), ["github", "notion"]);
});

test("BlueNexus error on return: the app posts the error with the state and shows it; nothing changed", async () => {
  await control(demo.emulator, "return-error", { error: "access_denied", error_description: "The user denied access" });
  let link = "";
  const { client, calls } = await phone("alice", async (url) => {
    const r = await userOnPage(url, []);
    if (r.type === "success") link = r.url;
    return r;
  });
  const r = await client.manage();
  assert.deepEqual(r, {
    kind: "bluenexus_error",
    error: "access_denied",
    description: "The user denied access",
    connections: (r as { connections: unknown }).connections,
  });
  assert.ok(r.kind === "bluenexus_error");
  assert.deepEqual(providers(r), ["notion"]);
  assert.equal(parseReturn(link, deepLink)?.error, "access_denied");
  assert.deepEqual(calls, ["GET /manage-connections 200", "POST /connections/return 200", "GET /api/connections 200"]);
});

test("deep link replayed: ignored by the app that handled it, refused by the backend after a restart and for another user", async () => {
  let link = "";
  const alice = await phone("alice", async (url) => {
    const r = await userOnPage(url, ["google"]);
    if (r.type === "success") link = r.url;
    return r;
  });
  const first = await alice.client.manage();
  assert.ok(first.kind === "returned" && first.outcome === "success", JSON.stringify(first));

  // The Linking listener hears the same link again: no second post.
  const before = alice.calls.length;
  assert.deepEqual(await alice.client.handleDeepLink(link), { kind: "ignored" });
  assert.equal(alice.calls.length, before);

  // The app restarted (a new client) and gets the link again: the backend refuses it.
  const restarted = await phone("alice", async () => ({ type: "cancel" }));
  assert.deepEqual(await restarted.client.handleDeepLink(link), { kind: "failed", step: "return", outcome: "replayed", status: 403 });

  // Another user's app never completes alice's flow.
  const bob = await phone("bob", async () => ({ type: "cancel" }));
  const r = await bob.client.handleDeepLink(link);
  assert.ok(r.kind === "failed" && r.step === "return" && r.status === 403, JSON.stringify(r));
});

test("Android: the deep link reaches the Linking listener and the session reports dismiss; manage shows that return", async () => {
  const p = await phone("alice", async (url) => {
    const r = await userOnPage(url, ["notion"]);
    assert.equal(r.type, "success");
    if (r.type === "success") void p.client.handleDeepLink(r.url);
    return { type: "dismiss" };
  });
  const r = await p.client.manage();
  assert.ok(r.kind === "returned" && r.outcome === "success", JSON.stringify(r));
  assert.equal(p.calls.filter((c) => c.startsWith("POST /connections/return")).length, 1);
});

test("parseReturn: only the registered deep link, exactly one state", () => {
  assert.deepEqual(parseReturn(deepLink + "?state=abc", deepLink), { state: "abc", error: "", description: "" });
  assert.deepEqual(parseReturn(deepLink + "?state=a&error=x&error_description=a+b%21#f", deepLink), { state: "a", error: "x", description: "a b!" });
  assert.equal(parseReturn("otherapp://connections?state=abc", deepLink), undefined);
  assert.equal(parseReturn(deepLink + "/more?state=abc", deepLink), undefined);
  assert.equal(parseReturn(deepLink + "?state=a&state=b", deepLink)?.state, "");
  assert.equal(parseReturn(deepLink + "?state=%E0%A4%A", deepLink)?.state, "");
  assert.equal(parseReturn(deepLink, deepLink)?.state, "");
});

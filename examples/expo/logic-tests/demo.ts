// The real backend for the logic tests: cmd/handoff-demo with its embedded
// BlueNexus emulator, on free loopback ports, and a scripted user on the
// emulator's white-label page (its HTML form contract, docs/emulator.md).
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";

export const deepLink = "yourapp://connections";

/** A running demo: the app's URL, the emulator's API base, and stop. */
export interface Demo {
  app: string;
  emulator: string;
  stop: () => Promise<void>;
}

let built: string | undefined;

// demoBinary is $HANDOFF_DEMO_BIN (the Makefile builds it), or a build of
// ./cmd/handoff-demo from the repository around this directory.
function demoBinary(): string {
  if (process.env.HANDOFF_DEMO_BIN) return process.env.HANDOFF_DEMO_BIN;
  if (built) return built;
  let root = __dirname;
  while (!existsSync(join(root, "go.work"))) {
    if (dirname(root) === root) throw new Error("no go.work above " + __dirname + ": set HANDOFF_DEMO_BIN");
    root = dirname(root);
  }
  const dir = mkdtempSync(join(tmpdir(), "handoff-demo-"));
  process.on("exit", () => rmSync(dir, { recursive: true, force: true }));
  built = join(dir, "handoff-demo");
  execFileSync(process.env.GO ?? "go", ["build", "-o", built, "./cmd/handoff-demo"], { cwd: root, stdio: "inherit" });
  return built;
}

/** startDemo runs the demo as docs/mobile.md does, on 127.0.0.1 only. */
export async function startDemo(): Promise<Demo> {
  const child: ChildProcess = spawn(demoBinary(), [
    "-addr", "127.0.0.1:0", "-emulator-addr", "127.0.0.1:0",
    "-return-uris", deepLink, "-emulator-control", "-log-level", "warn",
  ], { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const found = await new Promise<{ app: string; emulator: string }>((resolve, reject) => {
    const look = (chunk: Buffer) => {
      out += chunk.toString();
      const app = /Example app: open (\S+) /.exec(out);
      const emu = /BlueNexus emulator: API (\S+),/.exec(out);
      if (app && emu) resolve({ app: app[1], emulator: emu[1] });
    };
    child.stdout!.on("data", look);
    child.stderr!.on("data", (c: Buffer) => (out += c.toString()));
    child.once("exit", (code) => reject(new Error(`handoff-demo exited ${code}:\n${out}`)));
  });
  return {
    ...found,
    stop: async () => {
      child.kill("SIGTERM");
      await exited;
    },
  };
}

/** signIn gets a bearer token for user from the demo's API sign-in. */
export async function signIn(app: string, user: string): Promise<string> {
  const res = await fetch(app + "/api/signin", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ user }),
  });
  if (!res.ok) throw new Error(`sign-in: ${res.status} ${await res.text()}`);
  return ((await res.json()) as { token: string }).token;
}

/** control calls the emulator's control API. */
export async function control(emulator: string, path: string, body: unknown): Promise<void> {
  const res = await fetch(emulator + "/_emulator/" + path, { method: "POST", body: JSON.stringify(body) });
  if (!res.ok) throw new Error(`control ${path}: ${res.status} ${await res.text()}`);
}

/**
 * A scripted user in the auth session's browser: opens the white-label
 * URL, connects providers, then taps Done. It answers as
 * openAuthSessionAsync does: success with the deep link BlueNexus
 * redirected to, or dismiss when the page failed (the user closes it).
 */
export async function userOnPage(url: string, connect: string[]): Promise<{ type: "success"; url: string } | { type: "dismiss"; status: number }> {
  let cookie = "";
  const step = async (target: string, form?: Record<string, string>) => {
    const res = await fetch(target, {
      method: form ? "POST" : "GET",
      redirect: "manual",
      headers: { Cookie: cookie, ...(form ? { "Content-Type": "application/x-www-form-urlencoded" } : {}) },
      body: form ? new URLSearchParams(form).toString() : undefined,
    });
    for (const c of res.headers.getSetCookie()) cookie = c.split(";")[0];
    const location = res.headers.get("location");
    return { res, location: location ? new URL(location, target).toString() : "", text: await res.text() };
  };
  const opened = await step(url);
  if (opened.res.status !== 303) return { type: "dismiss", status: opened.res.status };
  const page = await step(opened.location);
  const csrf = /name="csrf_token" value="([^"]+)"/.exec(page.text);
  if (!csrf) throw new Error("white-label page without a csrf_token:\n" + page.text);
  const base = new URL("/white-label", url).toString();
  for (const provider of connect) await step(base + "/connect", { csrf_token: csrf[1], provider });
  const done = await step(base + "/done", { csrf_token: csrf[1] });
  if (done.res.status !== 303 || !done.location.startsWith(deepLink)) throw new Error(`done: ${done.res.status} to ${done.location}`);
  return { type: "success", url: done.location };
}

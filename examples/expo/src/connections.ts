// The app's side of the Manage Connections flow, as plain TypeScript: no
// React Native import, so that node's test runner runs it against the real
// backend (logic-tests/). The screen (App.tsx) passes in fetch and
// expo-web-browser's openAuthSessionAsync; docs/mobile.md walks the flow.

/** What expo-web-browser's openAuthSessionAsync resolves to. */
export type AuthSessionResult =
  | { type: "success"; url: string }
  | { type: "cancel" | "dismiss" | "opened" | "locked" };

/** A connection as the backend reports it (the Connections API's shape). */
export interface Connection {
  id: string;
  providerId: string;
  status: string;
  metadata?: { displayName?: string; email?: string; providerName?: string };
}

/** What the app needs; the platform calls are passed in. */
export interface Deps {
  /** The app's backend, e.g. "http://127.0.0.1:8080". */
  backend: string;
  /** The deep link the backend registered (-return-uris), e.g. "yourapp://connections". */
  returnURL: string;
  /** The app's own bearer token for its backend. */
  token: () => string | Promise<string>;
  fetch: (url: string, init?: RequestInit) => Promise<Response>;
  /** expo-web-browser's openAuthSessionAsync. */
  openAuthSession: (url: string, returnURL: string) => Promise<AuthSessionResult>;
  /** The phone's clock in milliseconds; only differences are used. Default Date.now. */
  now?: () => number;
}

/** How a flow ended, for the screen to show. */
export type Result =
  /** Back from BlueNexus; outcome "success", or "hook_failed" when the backend could not refresh its copy. */
  | { kind: "returned"; outcome: string; connections: Connection[] }
  /** BlueNexus sent the user back with an error; nothing changed. */
  | { kind: "bluenexus_error"; error: string; description: string; connections: Connection[] }
  /** The user closed the page before Done; the unused state just expires. */
  | { kind: "cancelled" }
  /** The backend refused a step: outcome is the kit's ("expired", "replayed", "wrong_user", ...). */
  | { kind: "failed"; step: "start" | "return" | "connections"; outcome: string; status: number }
  /** A deep link that is not a return, or one this app already handled. */
  | { kind: "ignored" };

interface Start {
  url: string;
  expiresIn: number;
}

/** A backend answer that was not the one wanted. */
class BackendError extends Error {
  constructor(
    readonly step: "start" | "return" | "connections",
    readonly status: number,
    readonly outcome: string,
  ) {
    super(`${step}: ${status} ${outcome}`);
  }
}

/**
 * createClient returns the app's flow: manage() runs it from the button,
 * handleDeepLink(url) completes it from a deep link (the auth session's
 * result, or the app's Linking listener when the app was reopened by it).
 * Each state is posted back at most once per client.
 */
export function createClient(deps: Deps) {
  const now = deps.now ?? Date.now;
  const handled = new Map<string, Promise<Result>>(); // by state
  let lastReturn: Promise<Result> | undefined;

  async function call(step: BackendError["step"], path: string, init: RequestInit = {}): Promise<any> {
    const headers: Record<string, string> = {
      Accept: "application/json",
      Authorization: `Bearer ${await deps.token()}`,
    };
    if (init.body !== undefined) headers["Content-Type"] = "application/json";
    const res = await deps.fetch(deps.backend + path, { ...init, headers });
    const body: any = await res.json().catch(() => ({}));
    if (!res.ok) throw new BackendError(step, res.status, typeof body.error === "string" ? body.error : "http_" + res.status);
    return body;
  }

  // start asks the backend for a white-label URL and returns it with the
  // moment it expires on this phone's clock: expiresIn counted from when
  // the request left (never later than the code's real end), since the
  // phone's clock may disagree with the server's expiresAt.
  async function start(): Promise<{ url: string; deadline: number }> {
    const q = "?redirect=" + encodeURIComponent(deps.returnURL) + "&next=%2F";
    const sent = now();
    const s: Start = await call("start", "/manage-connections" + q);
    return { url: s.url, deadline: sent + s.expiresIn * 1000 };
  }

  async function connections(): Promise<Connection[]> {
    const body = await call("connections", "/api/connections");
    return body.connections ?? [];
  }

  async function complete(state: string, error: string, description: string): Promise<Result> {
    const payload: Record<string, string> = { state };
    if (error) Object.assign(payload, { error, error_description: description });
    const r = await call("return", "/connections/return", { method: "POST", body: JSON.stringify(payload) });
    if (r.outcome === "bluenexus_error") {
      return { kind: "bluenexus_error", error: r.error ?? "", description: r.error_description ?? "", connections: await connections() };
    }
    return { kind: "returned", outcome: r.outcome, connections: await connections() };
  }

  function failed(err: unknown): Result {
    if (err instanceof BackendError) return { kind: "failed", step: err.step, outcome: err.outcome, status: err.status };
    throw err;
  }

  // returnFor posts the deep link's state back once, and gives the result
  // of that one post to every later caller (fresh: whether this call
  // posted it).
  function returnFor(url: string): { result: Promise<Result>; fresh: boolean } {
    const p = parseReturn(url, deps.returnURL);
    if (p === undefined) return { result: Promise.resolve({ kind: "ignored" }), fresh: false };
    if (p.state === "") return { result: Promise.resolve({ kind: "failed", step: "return", outcome: "malformed", status: 0 }), fresh: true };
    const seen = handled.get(p.state);
    if (seen !== undefined) return { result: seen, fresh: false };
    const result = complete(p.state, p.error, p.description).catch(failed);
    handled.set(p.state, result);
    lastReturn = result;
    return { result, fresh: true };
  }

  /**
   * Completes a flow from its deep link. A link that is not a return, or
   * whose state this client already posted, is ignored.
   */
  function handleDeepLink(url: string): Promise<Result> {
    const r = returnFor(url);
    return r.fresh ? r.result : Promise.resolve({ kind: "ignored" });
  }

  /** Runs the whole flow: start, the white-label page, the return. */
  async function manage(): Promise<Result> {
    try {
      let s = await start();
      if (now() >= s.deadline) s = await start(); // the app was held up: one fresh code
      if (now() >= s.deadline) return { kind: "failed", step: "start", outcome: "expired", status: 0 };
      const before = lastReturn;
      const r = await deps.openAuthSession(s.url, deps.returnURL);
      if (r.type === "success") return await returnFor(r.url).result;
      // Android may deliver the deep link to the Linking listener and
      // report the session dismissed: that return is this flow's.
      if (lastReturn !== before && lastReturn !== undefined) return await lastReturn;
      return { kind: "cancelled" };
    } catch (err) {
      return failed(err);
    }
  }

  return { manage, handleDeepLink, connections: () => connections().catch(failed) };
}

/**
 * parseReturn reads a deep link to returnURL: its state (exactly one, else
 * ""), and BlueNexus's error and error_description. A URL to anything else
 * gives undefined.
 */
export function parseReturn(url: string, returnURL: string): { state: string; error: string; description: string } | undefined {
  const q = url.indexOf("?");
  if ((q < 0 ? url : url.slice(0, q)) !== returnURL) return undefined;
  const params = new Map<string, string[]>();
  const query = q < 0 ? "" : url.slice(q + 1).split("#")[0];
  for (const pair of query.split("&")) {
    if (pair === "") continue;
    const eq = pair.indexOf("=");
    const [k, v] = eq < 0 ? [pair, ""] : [pair.slice(0, eq), pair.slice(eq + 1)];
    let key: string, value: string;
    try {
      key = decodeURIComponent(k.replace(/\+/g, " "));
      value = decodeURIComponent(v.replace(/\+/g, " "));
    } catch {
      return { state: "", error: "", description: "" };
    }
    params.set(key, [...(params.get(key) ?? []), value]);
  }
  const one = (name: string) => {
    const v = params.get(name);
    return v !== undefined && v.length === 1 ? v[0] : "";
  };
  return { state: one("state"), error: one("error"), description: one("error_description") };
}

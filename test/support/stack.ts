/**
 * The whole engine for a route test: the Firestore emulator (a fresh project), the LLM sandbox,
 * the mail catcher and the real Next.js server wired to them.
 */
import type { Firestore } from "firebase-admin/firestore";
import { afterAll, beforeAll } from "vitest";
import { type LlmSandbox, startLlmSandbox } from "../../scripts/local-stack/llm-sandbox";
import { type MailCatcher, startMailCatcher } from "../../scripts/local-stack/mail-catcher";
import { type EmulatorHandle, startTestEmulator } from "./firestore";
import { type NextServer, startNextServer } from "./next-server";

export interface RouteStack {
  handle: EmulatorHandle;
  sandbox: LlmSandbox;
  catcher: MailCatcher;
  db: Firestore;
  projectId: string;
  server: NextServer;
  stop(): Promise<void>;
}

export interface LocalServices {
  handle: EmulatorHandle;
  sandbox: LlmSandbox;
  catcher: MailCatcher;
  stop(): Promise<void>;
}

/** The outside world the engine talks to, on this machine: the emulator, the LLM sandbox, the mail catcher. */
export async function startLocalServices(): Promise<LocalServices> {
  const handle = await startTestEmulator();
  const sandbox = await startLlmSandbox();
  const catcher = await startMailCatcher();
  return {
    handle,
    sandbox,
    catcher,
    async stop() {
      await sandbox.stop();
      await catcher.stop();
      await handle.stop();
    },
  };
}

/**
 * The local services for every test of the calling file: started before the first test and stopped
 * after the last. Read them inside hooks and tests only; before `beforeAll` has run they do not exist.
 */
export function localServicesForFile(): Omit<LocalServices, "stop"> {
  let services: LocalServices | undefined;
  beforeAll(async () => {
    services = await startLocalServices();
  });
  afterAll(async () => {
    await services?.stop();
  });
  const started = (): LocalServices => {
    if (!services) throw new Error("the local services start in beforeAll: use them inside a hook or a test");
    return services;
  };
  return {
    get handle() {
      return started().handle;
    },
    get sandbox() {
      return started().sandbox;
    },
    get catcher() {
      return started().catcher;
    },
  };
}

export async function startRouteStack({
  prefix,
  cronSecret,
  env = {},
}: {
  prefix: string;
  cronSecret: string;
  env?:
    | Record<string, string>
    | ((stack: { sandbox: LlmSandbox; catcher: MailCatcher }) => Record<string, string>);
}): Promise<RouteStack> {
  const services = await startLocalServices();
  const { handle, sandbox, catcher } = services;
  const { projectId, db } = handle.freshProject(prefix);
  const extra = typeof env === "function" ? env({ sandbox, catcher }) : env;
  const server = await startNextServer((url) => ({
    FIRESTORE_EMULATOR_HOST: handle.emulator.host,
    FIREBASE_PROJECT_ID: projectId,
    CRON_SECRET: cronSecret,
    APP_URL: url,
    OPENROUTER_API_KEY: "sk-or-test-0000000000000000",
    OPENROUTER_BASE_URL: sandbox.baseURL,
    RESEND_API_KEY: "re_test",
    RESEND_BASE_URL: catcher.url,
    ...extra,
  }));
  return {
    handle,
    sandbox,
    catcher,
    db,
    projectId,
    server,
    async stop() {
      await server.stop();
      await services.stop();
    },
  };
}

export interface CallOptions {
  method?: string;
  /** JSON-encoded unless it is already a string (for malformed bodies). */
  body?: unknown;
  /** The bearer token; null sends none. */
  token?: string | null;
}

/** A `fetch` against the server with a default method and bearer token. */
export function caller(server: () => NextServer, defaults: { method: string; token: string }) {
  return (path: string, { method = defaults.method, body, token = defaults.token }: CallOptions = {}) => {
    const headers = new Headers({ "content-type": "application/json" });
    if (token !== null) headers.set("authorization", `Bearer ${token}`);
    return fetch(`${server().url}${path}`, {
      method,
      headers,
      ...(body === undefined ? {} : { body: typeof body === "string" ? body : JSON.stringify(body) }),
    });
  };
}

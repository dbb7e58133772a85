/**
 * The user's language on the real Next.js server: the processor route writes a Spanish-writing
 * user's message in Spanish (the sandbox answers in the language the prompt asks for), records it,
 * and the outbox emails it with Spanish chrome; `users/{uid}.locale` overrides detection.
 */
import type { Firestore } from "firebase-admin/firestore";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { formatEmailDateTime } from "@/core/email-strings";
import type { StoredMessage } from "@/pipeline/processor-store-ports";
import type { LlmSandbox } from "../../scripts/local-stack/llm-sandbox";
import type { MailCatcher } from "../../scripts/local-stack/mail-catcher";
import { eventually } from "../support/eventually";
import type { NextServer } from "../support/next-server";
import { seedDueUser } from "../support/processor";
import { caller, type RouteStack, startRouteStack } from "../support/stack";

const SECRET = "language-test-secret-0123456789ab";
const PROCESSOR = "/api/coaching/generateCoachingMessage/processor";

let stack: RouteStack;
let sandbox: LlmSandbox;
let catcher: MailCatcher;
let db: Firestore;
let server: NextServer;

beforeAll(async () => {
  stack = await startRouteStack({ prefix: "language-route", cronSecret: SECRET });
  ({ sandbox, catcher, db, server } = stack);
}, 120_000);

afterAll(async () => {
  await stack?.stop();
});

const call = caller(() => server, { method: "POST", token: SECRET });

const SPANISH_ENTRIES = [
  "Hoy me sentí cansada después del trabajo, pero salí a caminar con mi hermana por el parque.",
  "Quiero dormir mejor y dejar el teléfono antes de las once de la noche.",
  "El proyecto se retrasó otra vez y no sé cómo decírselo a mi jefe sin ponerme nerviosa.",
];

/** Runs the processor route for `uid` and waits for the message's email to reach the catcher. */
async function messageAndEmail(uid: string) {
  expect((await call(PROCESSOR, { body: { userId: uid } })).status).toBe(202);
  const email = await eventually(
    async () => catcher.emails.find((caught) => caught.to[0] === `${uid}@example.com`),
    (found) => found !== undefined,
  );
  const snapshot = await db.collection("coachingMessages").where("uid", "==", uid).get();
  const sent = snapshot.docs.map((document) => document.data() as StoredMessage).filter((m) => m.wasSent);
  expect(sent).toHaveLength(1);
  const user = await db.doc(`users/${uid}`).get();
  return { message: sent[0] as StoredMessage, email, timeZone: user.get("timezone") as string };
}

/** The prompts the sandbox received for `uid`'s run (its entries are named in them). */
function promptsFor(marker: string): string[] {
  return sandbox.requests
    .map((request) => JSON.stringify(request.body.messages))
    .filter((prompt) => prompt.includes(marker));
}

describe("the user's language, through the routes", () => {
  it("writes to a Spanish-writing user in Spanish, and emails it with Spanish chrome and a Spanish date", async () => {
    await seedDueUser(db, { uid: "route-es", now: Date.now(), entries: SPANISH_ENTRIES });
    const { message, email, timeZone } = await messageAndEmail("route-es");

    expect(message).toMatchObject({ language: "es", languageSource: "detected" });
    expect(message.messageContent).toMatch(/[áéíóúñ¿]/);
    const prompts = promptsFor("Name route-es");
    expect(prompts.length).toBeGreaterThanOrEqual(2);
    for (const prompt of prompts) expect(prompt).toContain('<message_language tag=\\"es\\">Spanish');

    expect(email?.html).toContain('lang="es"');
    expect(email?.html).toContain("Hola, Name route-es:");
    expect(email?.html).toContain("Ábrelo en tu diario");
    expect(email?.html).toContain("Cambiar las preferencias de correo");
    expect(email?.html).not.toContain("Open it in your journal");
    expect(email?.text).toContain(message.messageContent);
    expect(email?.text).toContain(formatEmailDateTime({ at: message.createdAt, language: "es", timeZone }));
  });

  it("lets users/{uid}.locale override detection: French message and French chrome for Spanish entries", async () => {
    await seedDueUser(db, { uid: "route-fr", now: Date.now(), entries: SPANISH_ENTRIES });
    await db.doc("users/route-fr").update({ locale: "fr-CA" });
    const { message, email, timeZone } = await messageAndEmail("route-fr");

    expect(message).toMatchObject({ language: "fr", languageSource: "locale" });
    for (const prompt of promptsFor("Name route-fr"))
      expect(prompt).toContain('<message_language tag=\\"fr\\">French');
    expect(email?.html).toContain('lang="fr"');
    expect(email?.html).toContain("Bonjour Name route-fr,");
    expect(email?.html).not.toContain("Ábrelo en tu diario");
    expect(email?.text).toContain(
      formatEmailDateTime({ at: message.createdAt, language: "fr-CA", timeZone }),
    );
  });
});

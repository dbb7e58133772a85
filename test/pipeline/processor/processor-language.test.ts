/**
 * The message's language through the real pipeline on the emulator: detected from the entries the
 * run reads, overridden by `users/{uid}.locale`, asked for in both LLM calls, recorded on every
 * stored attempt, and used by the email's own words and date line.
 */
import type { Firestore } from "firebase-admin/firestore";
import { beforeEach, describe, expect, it } from "vitest";
import { formatEmailDateTime } from "@/core/email-strings";
import type { EventProcessorDeps } from "@/pipeline/outbox/process-event";
import type { ProcessorDeps } from "@/pipeline/process-user";
import type { StoredMessage } from "@/pipeline/processor-store-ports";
import { processUser } from "../../../scripts/support/process-user";
import { drainEvents, realEventDeps, realProcessorDeps, seedDueUser } from "../../support/processor";
import { localServicesForFile } from "../../support/stack";

const services = localServicesForFile();
let db: Firestore;
let deps: ProcessorDeps;
let events: EventProcessorDeps;

beforeEach(() => {
  ({ db } = services.handle.freshProject("processor-language"));
  deps = realProcessorDeps({ db, sandbox: services.sandbox });
  events = realEventDeps({ db, catcher: services.catcher });
  services.sandbox.requests.length = 0;
  services.catcher.emails.length = 0;
});

const NOW = Date.now();

const SPANISH_ENTRIES = [
  "Hoy me sentí cansada después del trabajo, pero salí a caminar con mi hermana por el parque.",
  "Quiero dormir mejor y dejar el teléfono antes de las once de la noche.",
  "El proyecto se retrasó otra vez y no sé cómo decírselo a mi jefe sin ponerme nerviosa.",
];

async function messagesOf(uid: string): Promise<StoredMessage[]> {
  const snapshot = await db.collection("coachingMessages").where("uid", "==", uid).get();
  return snapshot.docs.map((document) => document.data() as StoredMessage);
}

/** The text of every message of each completion request the sandbox received. */
function promptsSent(): string[] {
  return services.sandbox.requests.map((request) => JSON.stringify(request.body.messages));
}

describe("the message's language, through the pipeline", () => {
  it("writes to a user who journals in Spanish in Spanish: asked for in both calls, recorded, and a Spanish email", async () => {
    await seedDueUser(db, { uid: "ana", now: NOW, entries: SPANISH_ENTRIES });
    const result = await processUser({ deps, uid: "ana", now: NOW });
    expect(result).toMatchObject({ kind: "processed", result: { messageGenerated: true, outcome: "sent" } });
    await drainEvents(events, NOW);

    const prompts = promptsSent();
    expect(prompts).toHaveLength(2);
    for (const prompt of prompts) expect(prompt).toContain('<message_language tag=\\"es\\">Spanish');
    const [message] = await messagesOf("ana");
    expect(message).toMatchObject({ wasSent: true, language: "es", languageSource: "detected" });
    // The sandbox answers in the language asked for.
    expect(message?.messageContent).toMatch(/[áéíóúñ¿]/);

    const email = services.catcher.emails.find((caught) => caught.to[0] === "ana@example.com");
    expect(email?.html).toContain('lang="es"');
    expect(email?.html).toContain("Hola, Name ana:");
    expect(email?.html).toContain("Ábrelo en tu diario");
    expect(email?.html).not.toContain("Open it in your journal");
    const timeZone = (await db.doc("users/ana").get()).get("timezone") as string;
    expect(email?.text).toContain(formatEmailDateTime({ at: NOW, language: "es", timeZone }));
  });

  it("lets users/{uid}.locale override detection: a German message and a German email", async () => {
    await seedDueUser(db, { uid: "jonas", now: NOW, entries: SPANISH_ENTRIES });
    await db.doc("users/jonas").update({ locale: "de_DE" });
    await processUser({ deps, uid: "jonas", now: NOW });
    await drainEvents(events, NOW);

    for (const prompt of promptsSent()) expect(prompt).toContain('<message_language tag=\\"de\\">German');
    const [message] = await messagesOf("jonas");
    expect(message).toMatchObject({ wasSent: true, language: "de", languageSource: "locale" });
    const email = services.catcher.emails.find((caught) => caught.to[0] === "jonas@example.com");
    expect(email?.html).toContain("Hallo Name jonas,");
    const timeZone = (await db.doc("users/jonas").get()).get("timezone") as string;
    expect(email?.text).toContain(formatEmailDateTime({ at: NOW, language: "de-DE", timeZone }));
  });

  it("ignores a locale that names no language and records the language on a rejected attempt too", async () => {
    await seedDueUser(db, { uid: "lucia", now: NOW, entries: SPANISH_ENTRIES });
    await db.doc("users/lucia").update({ locale: "spanish please" });
    services.sandbox.queueFaults([
      { kind: "pass" },
      {
        kind: "content",
        content: JSON.stringify({
          effectivenessRating: 3,
          recommendedAction: "SEND_MESSAGE",
          reasoning: "generic",
          improvedMessage: "",
        }),
      },
    ]);
    await processUser({ deps, uid: "lucia", now: NOW });
    const [attempt] = await messagesOf("lucia");
    expect(attempt).toMatchObject({ status: "rejected", language: "es", languageSource: "detected" });
  });

  it("writes in English, with an English email, to a user whose entries say too little to tell", async () => {
    await seedDueUser(db, { uid: "sam", now: NOW, entries: ["ok", "fine"] });
    await processUser({ deps, uid: "sam", now: NOW });
    await drainEvents(events, NOW);
    const [message] = await messagesOf("sam");
    expect(message).toMatchObject({ wasSent: true, language: "en", languageSource: "default" });
    const email = services.catcher.emails.find((caught) => caught.to[0] === "sam@example.com");
    expect(email?.html).toContain("Open it in your journal");
  });
});

/**
 * Prompt experiments through the real pipeline on the emulator: a user assigned to a variant is
 * generated with the variant's prompt and every attempt records `promptVariant`; a variant an
 * operator stopped sends its users back to the control; without an experiment nothing is recorded.
 */
import type { Firestore } from "firebase-admin/firestore";
import { beforeEach, describe, expect, it } from "vitest";
import {
  createFirestoreStoppedVariants,
  setVariantStopped,
} from "@/adapters/firestore/prompt-experiment-store";
import { getPrompts } from "@/adapters/prompts";
import type { Prompts } from "@/pipeline/model-ports";
import type { StoredMessage } from "@/pipeline/processor-store-ports";
import { createPromptChooser } from "@/pipeline/prompt-choice";
import { processUser } from "../../../scripts/support/process-user";
import { realProcessorDeps, seedDueUser } from "../../support/processor";
import { localServicesForFile } from "../../support/stack";

const services = localServicesForFile();
let db: Firestore;

beforeEach(() => {
  ({ db } = services.handle.freshProject("processor-prompt-experiment"));
  services.sandbox.requests.length = 0;
});

const NOW = Date.now();
const VARIANT_MARKER = "You are the experimental coach of variant everyone.";

/** Every user in the variant (share 1), so the test does not depend on where a uid hashes. */
const experimentPrompts: Prompts = {
  ...getPrompts(),
  messageGenerationExperiment: {
    id: "tone-test",
    variants: [
      {
        id: "everyone",
        share: 1,
        version: "message-generation/3-everyone",
        text: `${VARIANT_MARKER}\n${getPrompts().messageGeneration.text}`,
      },
    ],
  },
};

function experimentDeps() {
  return realProcessorDeps({
    db,
    sandbox: services.sandbox,
    prompts: experimentPrompts,
    choosePrompt: createPromptChooser({
      prompts: experimentPrompts,
      stops: createFirestoreStoppedVariants(db),
    }),
  });
}

async function messagesOf(uid: string): Promise<StoredMessage[]> {
  const snapshot = await db.collection("coachingMessages").where("uid", "==", uid).get();
  return snapshot.docs.map((document) => document.data() as StoredMessage);
}

/** The system prompt of each generation request the sandbox received. */
function systemPromptsSent(): string[] {
  return services.sandbox.requests.map((request) => {
    const [system] = request.body.messages as unknown[];
    return JSON.stringify(system);
  });
}

describe("prompt experiments, through the pipeline", () => {
  it("generates a variant's user with the variant's prompt and records the variant on the message", async () => {
    await seedDueUser(db, { uid: "vera", now: NOW });
    const result = await processUser({ deps: experimentDeps(), uid: "vera", now: NOW });
    expect(result).toMatchObject({ kind: "processed", result: { messageGenerated: true } });

    const [generation, scoring] = systemPromptsSent();
    expect(generation).toContain(VARIANT_MARKER);
    // The scoring prompt is the same for every variant: ratings stay comparable.
    expect(scoring).not.toContain(VARIANT_MARKER);
    const [message] = await messagesOf("vera");
    expect(message).toMatchObject({
      promptVariant: "tone-test/everyone",
      promptVersion: `message-generation/3-everyone+${getPrompts().outcomeSimulation.version}`,
    });
  });

  it("sends a stopped variant's users back to the control prompt", async () => {
    await setVariantStopped(db, { variantKey: "tone-test/everyone", stopped: true, now: NOW });
    await seedDueUser(db, { uid: "carl", now: NOW });
    await processUser({ deps: experimentDeps(), uid: "carl", now: NOW });

    expect(systemPromptsSent().join("\n")).not.toContain(VARIANT_MARKER);
    const [message] = await messagesOf("carl");
    expect(message).toMatchObject({
      promptVariant: "tone-test/control",
      promptVersion: `${getPrompts().messageGeneration.version}+${getPrompts().outcomeSimulation.version}`,
    });
  });

  it("records no variant when no experiment runs", async () => {
    await seedDueUser(db, { uid: "nora", now: NOW });
    await processUser({ deps: realProcessorDeps({ db, sandbox: services.sandbox }), uid: "nora", now: NOW });
    const [message] = await messagesOf("nora");
    expect(message).toBeDefined();
    expect(message).not.toHaveProperty("promptVariant");
  });
});

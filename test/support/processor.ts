/**
 * The processor's real collaborators for pipeline tests: Firestore on the emulator, the AI SDK
 * and OpenRouter provider over HTTP to the LLM sandbox, the Resend SDK over HTTP to the mail
 * catcher.
 */
import type { Firestore } from "firebase-admin/firestore";
import { renderCoachingEmail } from "@/adapters/email/coaching-email";
import { createResendMailer } from "@/adapters/email/resend-mailer";
import { createFirestoreEventStore } from "@/adapters/firestore/event-store";
import { createFirestoreLlmBreaker } from "@/adapters/firestore/llm-breaker";
import { createFirestoreProcessingStateStore } from "@/adapters/firestore/processing-state-store";
import { createFirestoreProcessorStore } from "@/adapters/firestore/processor-store";
import { createOpenRouterCoach } from "@/adapters/llm/openrouter-coach";
import { getPrompts } from "@/adapters/prompts";
import { createNullPushTransport } from "@/adapters/push/null-push";
import type { Frequency, TimePreference } from "@/core/schedule";
import { createEventRegistry } from "@/pipeline/event-handlers";
import { type EventProcessorDeps, processEventBatches } from "@/pipeline/process-events";
import type { ProcessorDeps } from "@/pipeline/process-user";
import type { LlmSandbox } from "../../scripts/local-stack/llm-sandbox";
import type { MailCatcher } from "../../scripts/local-stack/mail-catcher";
import { putDocuments } from "./firestore";
import { zoneInsideWindow } from "./zones";

export const HOUR = 3_600_000;

export function realProcessorDeps({
  db,
  sandbox,
  timeoutMs = 5_000,
  ...overrides
}: {
  db: Firestore;
  sandbox: LlmSandbox;
  timeoutMs?: number;
} & Partial<ProcessorDeps>): ProcessorDeps {
  return {
    store: createFirestoreProcessorStore(db),
    model: createOpenRouterCoach({
      apiKey: "sk-or-test",
      baseURL: sandbox.baseURL,
      generationModel: "test/coach",
      scoringModel: "test/scorer",
      timeoutMs,
      maxRetries: 0,
    }),
    prompts: getPrompts(),
    leaseMs: 10 * 60_000,
    stateStore: createFirestoreProcessingStateStore(db),
    suspension: { maxConsecutiveFailures: 5, suspensionMs: 24 * HOUR },
    breaker: createFirestoreLlmBreaker(db, {
      failureThreshold: 20,
      cooldownMs: 5 * 60_000,
      probeTimeoutMs: 5 * 60_000,
    }),
    ...overrides,
  };
}

/**
 * The outbox with its real collaborators: the Resend SDK over HTTP to the mail catcher, React Email.
 * `mailer: null` is email without RESEND_API_KEY (off); `mailer.timeoutMs` bounds each Resend call.
 */
export function realEventDeps({
  db,
  catcher,
  mailer = {},
  ...overrides
}: {
  db: Firestore;
  catcher: MailCatcher;
  mailer?: { timeoutMs?: number } | null;
} & Partial<EventProcessorDeps>): EventProcessorDeps {
  process.env.RESEND_BASE_URL = catcher.url;
  return {
    store: createFirestoreEventStore(db),
    registry: createEventRegistry({
      store: createFirestoreProcessorStore(db),
      mailer:
        mailer === null
          ? null
          : createResendMailer({
              apiKey: "re_test",
              from: "Coach <coach@example.com>",
              timeoutMs: mailer.timeoutMs ?? 10_000,
            }),
      push: createNullPushTransport(),
      renderEmail: renderCoachingEmail,
      links: {
        journalEntryUrl: (entryId) => `https://journal.example/journal/${entryId}`,
        preferencesUrl: "https://journal.example/settings/notifications",
      },
      random: Math.random,
    }),
    policy: { maxRetries: 5, baseDelayMs: 1_000, maxDelayMs: 60_000, maxAgeMs: 24 * HOUR },
    leaseMs: 60_000,
    random: Math.random,
    ...overrides,
  };
}

/** Runs every ready event at `now`, as the outbox cron would. */
export function drainEvents(deps: EventProcessorDeps, now: number) {
  return processEventBatches({
    deps,
    now: () => now,
    batchSize: 20,
    concurrency: 5,
    timeBudgetMs: 60_000,
    elapsedMs: () => 0,
  });
}

export interface SeedUserOptions {
  uid: string;
  now: number;
  timePreference?: TimePreference;
  frequency?: Frequency;
  timezone?: string;
  dueAt?: number | null;
  entries?: string[];
  emailNotifications?: boolean;
  /**
   * Store insights that already cover the entries (the default), so a processor that refreshes
   * stale insights before generating makes no extra LLM call; false leaves the user without any.
   */
  insightsUpToDate?: boolean;
}

/** A user due an hour ago, inside their window, with a few journal entries. */
export async function seedDueUser(db: Firestore, options: SeedUserOptions): Promise<void> {
  const timePreference = options.timePreference ?? "afternoon";
  await putDocuments(db, "users", [
    [
      options.uid,
      {
        email: `${options.uid}@example.com`,
        displayName: `Name ${options.uid}`,
        timezone: options.timezone ?? zoneInsideWindow(options.now, timePreference),
        coachingConfig: {
          enableCoachingMessages: true,
          frequency: options.frequency ?? "daily",
          timePreference,
          ...(options.emailNotifications === undefined
            ? {}
            : { emailNotifications: options.emailNotifications }),
        },
        nextCoachingMessageDue: options.dueAt === undefined ? options.now - HOUR : options.dueAt,
      },
    ],
  ]);
  const entries = options.entries ?? [
    `${options.uid} wrote: I want steadier mornings and less doom-scrolling.`,
    `${options.uid} wrote: Ran 5k today, felt proud of keeping the plan.`,
    `${options.uid} wrote: Work is stressful; the launch slipped again.`,
  ];
  if (options.insightsUpToDate !== false) {
    await putDocuments(db, "userInsights", [
      [
        options.uid,
        {
          uid: options.uid,
          summary: `${options.uid} is settling into a routine.`,
          themes: [],
          goalsAndCommitments: [],
          moodTrend: "stable",
          challenges: [],
          notableChanges: [],
          latestSummary: `${options.uid} is settling into a routine.`,
          analysedThrough: options.now,
          batches: [],
          updatedAt: options.now,
        },
      ],
    ]);
  }
  await putDocuments(
    db,
    `users/${options.uid}/journalEntries`,
    entries.map((content, index) => [
      `entry-${index}`,
      { content, createdAt: options.now - (entries.length - index) * 24 * HOUR },
    ]),
  );
}

/**
 * The processor's real collaborators for pipeline tests: Firestore on the emulator, the AI SDK
 * and OpenRouter provider over HTTP to the LLM sandbox, the Resend SDK over HTTP to the mail
 * catcher.
 */
import type { Firestore } from "firebase-admin/firestore";
import { type AppConfig, loadConfig } from "@/config";
import type { Frequency, TimePreference } from "@/core/schedule";
import type { PushTransport } from "@/pipeline/channel-ports";
import type { CoachModel, ResolveRunModel } from "@/pipeline/model-ports";
import type { EventProcessorDeps } from "@/pipeline/outbox/process-event";
import { processEventBatches } from "@/pipeline/outbox/process-event-batches";
import type { ProcessorDeps } from "@/pipeline/process-user";
import { firestoreOutboxStorage, type OutboxStorage, wireOutbox } from "@/services/outbox";
import {
  firestoreProcessorStorage,
  openRouterModels,
  type ProcessorStorage,
  wireProcessor,
} from "@/services/processor";
import type { LlmSandbox } from "../../scripts/local-stack/llm-sandbox";
import type { MailCatcher } from "../../scripts/local-stack/mail-catcher";
import { putDocuments } from "./firestore";
import { zoneInsideWindow } from "./zones";

export const HOUR = 3_600_000;

/** The configuration tests run with: the sandbox as the LLM endpoint, and `env` on top. */
export function testConfig({
  sandbox,
  timeoutMs = 5_000,
  env = {},
}: {
  sandbox: LlmSandbox;
  timeoutMs?: number;
  env?: Record<string, string>;
}): AppConfig {
  return loadConfig({
    NODE_ENV: "test",
    FIREBASE_PROJECT_ID: "demo-coaching-engine",
    OPENROUTER_API_KEY: "sk-or-test",
    OPENROUTER_BASE_URL: sandbox.baseURL,
    COACHING_MODEL: "test/coach",
    SCORING_MODEL: "test/scorer",
    LLM_TIMEOUT_MS: String(timeoutMs),
    LLM_MAX_RETRIES: "0",
    ...env,
  });
}

/** The default-key model on the sandbox, as the wiring builds it (to wrap with a fault). */
export function sandboxModel(sandbox: LlmSandbox, timeoutMs = 5_000): CoachModel {
  return openRouterModels(testConfig({ sandbox, timeoutMs })).defaultModel;
}

/** A resolver that hands every run `model` as it is (no quota, no ceiling): a fault at the model port. */
export function fixedModel(model: CoachModel): ResolveRunModel {
  return async () => ({ model, settle: async () => undefined });
}

/**
 * The processor as production wires it (services/processor.ts `wireProcessor`): Firestore on the
 * emulator, OpenRouter over HTTP to the sandbox, the quotas, the breaker, the insights refresh;
 * `env` sets configuration (LLM_CALLS_PER_MINUTE, ENCRYPTION_KEY, ...). `storage` replaces
 * storage ports (wrapped with faults), `model` hands every run one model as it is, and the rest
 * overrides a collaborator.
 */
export function realProcessorDeps({
  db,
  sandbox,
  timeoutMs = 5_000,
  env,
  config: givenConfig,
  storage,
  model,
  ...overrides
}: {
  db: Firestore;
  sandbox: LlmSandbox;
  timeoutMs?: number;
  env?: Record<string, string>;
  /** The whole configuration, instead of `testConfig` with `env`. */
  config?: AppConfig;
  storage?: Partial<ProcessorStorage>;
  model?: CoachModel;
} & Partial<ProcessorDeps>): ProcessorDeps {
  const config = givenConfig ?? testConfig({ sandbox, timeoutMs, env });
  const wired = wireProcessor({
    config,
    storage: { ...firestoreProcessorStorage(db, config), ...storage },
    onStep: () => undefined,
    warn: () => undefined,
  });
  return { ...wired, ...(model ? { resolveModel: fixedModel(model) } : {}), ...overrides };
}

/**
 * The outbox as production wires it (services/outbox.ts `wireOutbox`): Firestore on the emulator,
 * the Resend SDK over HTTP to the mail catcher, React Email, and, given the `sandbox` (or a
 * `config` with OPENROUTER_API_KEY), insights over HTTP to the LLM sandbox under the shared
 * breaker. The configuration is test-scale: retries within seconds, a one-minute lease.
 * `mailer: null` is email without RESEND_API_KEY (off); `mailer.timeoutMs` bounds each Resend call.
 * `storage` replaces storage ports (wrapped with faults); the rest overrides a collaborator.
 */
export function realEventDeps({
  db,
  catcher,
  sandbox,
  config: givenConfig,
  mailer = {},
  unsubscribe = null,
  push,
  storage,
  ...overrides
}: {
  db: Firestore;
  catcher: MailCatcher;
  /** The LLM endpoint of insights; without it (and without `config`), insights are off. */
  sandbox?: LlmSandbox;
  /** The configuration to start from, instead of `testConfig`. */
  config?: AppConfig;
  mailer?: { timeoutMs?: number } | null;
  /** Signs each email's unsubscribe link (UNSUBSCRIBE_SECRET); null: no link, no header. */
  unsubscribe?: AppConfig["unsubscribe"];
  /** Push transport; by default none configured (recorded as not delivered). */
  push?: PushTransport;
  storage?: Partial<OutboxStorage>;
} & Partial<EventProcessorDeps>): EventProcessorDeps {
  const base =
    givenConfig ??
    (sandbox
      ? testConfig({ sandbox })
      : loadConfig({ NODE_ENV: "test", FIREBASE_PROJECT_ID: "demo-coaching-engine" }));
  const config: AppConfig = {
    ...base,
    email:
      mailer === null ? null : { apiKey: "re_test", baseUrl: catcher.url, from: "Coach <coach@example.com>" },
    events: {
      ...base.events,
      maxRetries: 5,
      baseDelayMs: 1_000,
      maxDelayMs: 60_000,
      maxAgeMs: 24 * HOUR,
      leaseMs: 60_000,
      emailTimeoutMs: mailer?.timeoutMs ?? 10_000,
    },
    journalLinks: {
      journalEntryUrl: (entryId) => `https://journal.example/journal/${entryId}`,
      preferencesUrl: "https://journal.example/settings/notifications",
    },
    unsubscribe,
  };
  const wired = wireOutbox({
    config,
    storage: { ...firestoreOutboxStorage(db, config), ...storage },
    ...(push ? { channels: { push } } : {}),
    warn: () => undefined,
  });
  return { ...wired, ...overrides };
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

/**
 * The processing state a user's earlier run left (it finished and sent a message). Tests that seed
 * a user's past messages or slots seed this too: a run writes the state at its claim, before any
 * message, and the processor skips the open-slot and recent-message queries for a user without one.
 */
export async function seedEarlierRunState(db: Firestore, { uid, now }: { uid: string; now: number }) {
  await putDocuments(db, "userProcessingState", [
    [
      uid,
      {
        uid,
        status: "waiting",
        phase: "idle",
        isProcessing: false,
        currentSlotId: null,
        consecutiveFailures: 0,
        unfinishedRuns: 0,
        totalMessagesSent: 1,
        updatedAt: now - 24 * HOUR,
      },
    ],
  ]);
}

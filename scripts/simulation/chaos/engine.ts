/**
 * The engine as the simulation wires it: the real pipelines' dependencies over the in-memory
 * twins, every store and breaker call behind a fault-injecting wrapper of the calling process.
 * This is the simulator's composition root; when a port changes, this is the file to change.
 */
import { createInMemoryLlmBreaker } from "@/adapters/memory/llm-breaker";
import { createInMemoryProcessingStateStore } from "@/adapters/memory/processing-state-store";
import { createInMemoryProcessorStore } from "@/adapters/memory/processor-store";
import { createInMemorySchedulerStore } from "@/adapters/memory/scheduler-store";
import { createMemorySuppressionList } from "@/adapters/memory/suppression-list";
import { getPrompts } from "@/adapters/prompts";
import { type AppConfig, loadConfig } from "@/config";
import type { EventStore } from "@/pipeline/event-ports";
import type { LlmBreaker } from "@/pipeline/llm-limit-ports";
import type { EventProcessorDeps } from "@/pipeline/outbox/process-event";
import type { ProcessorDeps } from "@/pipeline/process-user";
import type { ProcessorStore } from "@/pipeline/processor-store-ports";
import type { SchedulerStore } from "@/pipeline/scheduler-store-ports";
import { createStateQuotaGate } from "@/pipeline/state-quota";
import { wireOutbox } from "@/services/outbox";
import { wireProcessor } from "@/services/processor";
import {
  type ChaosControls,
  createChaosModel,
  createFakeMailer,
  createFakePush,
  renderPlainEmail,
} from "./fakes";
import { type FaultDecider, type PortFault, type SimulatedProcess, wrapPort } from "./faults";
import type { InvariantChecker } from "./invariants";
import { count, faultsOn, llmDown, type World } from "./world";

export interface SimulationStats {
  ticks: number;
  processorRuns: number;
  outboxRuns: number;
  messagesSent: number;
  emailsSent: number;
  probes: number;
}

export interface SimulatedEngine {
  stats: SimulationStats;
  processorDeps(process: SimulatedProcess): ProcessorDeps;
  eventDeps(process: SimulatedProcess): EventProcessorDeps;
  schedulerStore(process: SimulatedProcess): SchedulerStore;
}

/** Faults a port can suffer: stores and the breaker all four; transports that never throw only dying. */
function portFaultDecider(world: World): FaultDecider {
  const { store } = world.settings.rates;
  return ({ port, method, process, subject }) => {
    if (!faultsOn(world)) return null;
    const roll = world.random();
    const transport = port === "mailer" || port === "push" || port === "model";
    let fault: PortFault | null = null;
    if (roll < store.crashBefore) fault = "crash_before";
    else if (roll < store.crashBefore + store.crashAfter) fault = "crash_after";
    else if (transport) fault = null;
    else if (roll < store.crashBefore + store.crashAfter + store.failBefore) fault = "fail_before";
    else if (roll < store.crashBefore + store.crashAfter + store.failBefore + store.appliedThenFail)
      fault = "applied_then_fail";
    if (fault) {
      count(world, fault.startsWith("crash") ? `process.${fault}` : `store.${fault}`);
      world.trace.add(
        `FAULT ${fault} at ${port}.${method}${subject ? `(${subject})` : ""} in ${process.label}`,
      );
    }
    return fault;
  };
}

/**
 * Deliberately broken stand-ins for a port, to show that the invariants can fail (the harness's
 * own test): each gets the twin the engine would use and returns what the processes use instead.
 */
export interface PortSabotage {
  processorStore?: (store: ProcessorStore, world: World) => ProcessorStore;
  eventStore?: (store: EventStore, world: World) => EventStore;
  /** Called once per simulated run, like the breaker factory. */
  breaker?: (breaker: LlmBreaker, world: World) => LlmBreaker;
}

export function createSimulatedEngine(
  world: World,
  checker: InvariantChecker,
  sabotage: PortSabotage = {},
): SimulatedEngine {
  const { settings } = world;
  const { rates } = settings;
  const trace = (line: string) => world.trace.add(line);
  const controls: ChaosControls = {
    random: world.random,
    now: () => world.clock.now,
    faultsOn: () => faultsOn(world),
    llmDown: (at) => llmDown(world, at),
    count: (kind) => count(world, kind),
    trace,
  };
  const stats: SimulationStats = {
    ticks: 0,
    processorRuns: 0,
    outboxRuns: 0,
    messagesSent: 0,
    emailsSent: 0,
    probes: 0,
  };
  const model = createChaosModel(controls, rates.model);
  const mailer = createFakeMailer(controls, rates.mailer, (email) => {
    stats.emailsSent += 1;
    checker.onEmail(email);
  });
  const push = createFakePush(controls, ({ messageId }) => checker.onPush(messageId));
  const twinProcessorStore = createInMemoryProcessorStore(world.database, world.data, world.processingStates);
  const processorStore = sabotage.processorStore?.(twinProcessorStore, world) ?? twinProcessorStore;
  // The scheduler sees the slots the processor left open (an approved message waiting).
  const schedulerStore = createInMemorySchedulerStore(world.database, { slots: world.data.slots });
  const stateStore = createInMemoryProcessingStateStore(world.database, world.processingStates);
  const eventStore = sabotage.eventStore?.(world.events, world) ?? world.events;
  const prompts = getPrompts();
  const decide = portFaultDecider(world);
  const wrap = <Port extends object>(port: Port, name: string, process: SimulatedProcess) =>
    wrapPort(port, { name, process, decide });

  /** Each process has its own breaker instance (its own `lastSeen`) over the one shared state. */
  const breakerFor = (process: SimulatedProcess): LlmBreaker => {
    const twin = createInMemoryLlmBreaker(world.database, world.probes, settings.breaker);
    const inner = sabotage.breaker?.(twin, world) ?? twin;
    // Every method passes through (releaseProbe too); acquire and releaseProbe are observed.
    const observed: LlmBreaker = {
      ...inner,
      async acquire(now) {
        const answer = await inner.acquire(now);
        checker.onBreakerAcquire(now, answer, process.label);
        if (answer !== "closed") trace(`breaker ${answer} for ${process.label}`);
        if (answer === "probe") stats.probes += 1;
        return answer;
      },
      async releaseProbe(now) {
        await inner.releaseProbe(now);
        trace(`breaker probe released by ${process.label}`);
      },
    };
    return wrap(observed, "breaker", process);
  };

  // The production wiring (services/processor.ts, services/outbox.ts) over the twins: the same
  // quotas, insights refresh, breaker and handler registry as the routes, with the chaos model at
  // the model interface and the fake channels at theirs.
  const baseConfig = loadConfig({
    NODE_ENV: "test",
    FIREBASE_PROJECT_ID: "demo-chaos",
    JOURNAL_APP_URL: "https://journal.example",
  });
  const config: AppConfig = {
    ...baseConfig,
    processor: {
      leaseMs: settings.leaseMs,
      suspension: settings.suspension,
      breaker: settings.breaker,
    },
    events: { ...baseConfig.events, ...settings.eventPolicy, leaseMs: settings.eventLeaseMs },
  };
  const modelsFor = (process: SimulatedProcess) => ({
    defaultModel: wrap(model, "model", process),
    modelForKey: () => wrap(model, "model", process),
  });

  const eventDeps = (process: SimulatedProcess): EventProcessorDeps =>
    wireOutbox({
      config,
      storage: {
        events: wrap(eventStore, "eventStore", process),
        store: wrap(processorStore, "processorStore", process),
        stateStore: wrap(stateStore, "processingStateStore", process),
        quota: createStateQuotaGate(wrap(stateStore, "processingStateStore", process)),
        userKeys: null,
        ceiling: null,
        // One breaker instance per insights run, as in production.
        breaker: () => breakerFor(process),
        suppressions: createMemorySuppressionList(),
      },
      channels: {
        mailer: wrap(mailer, "mailer", process),
        push: wrap(push, "push", process),
        alertWebhook: null,
        renderEmail: renderPlainEmail,
      },
      models: modelsFor(process),
      prompts,
      random: world.random,
      warn: () => undefined,
    });

  const processorDeps = (process: SimulatedProcess): ProcessorDeps =>
    wireProcessor({
      config,
      storage: {
        store: wrap(processorStore, "processorStore", process),
        stateStore: wrap(stateStore, "processingStateStore", process),
        breaker: breakerFor(process),
        // Usage is kept on the processing state: its faults are the state store's.
        quota: createStateQuotaGate(wrap(stateStore, "processingStateStore", process)),
        userKeys: null,
        ceiling: null,
      },
      models: modelsFor(process),
      prompts,
      onStep: () => undefined,
      warn: () => undefined,
    });

  return {
    stats,
    processorDeps,
    eventDeps,
    schedulerStore: (process) => wrap(schedulerStore, "schedulerStore", process),
  };
}

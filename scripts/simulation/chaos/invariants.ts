/**
 * What must hold in the world, checked while the simulation runs. Each check names the defect
 * class it guards; the first violation stops the seed.
 *
 * Cost: the per-user and per-slot scans run once per virtual hour (at minute 59, before the next
 * tick), the per-event scan after every outbox run; the checks about one step run when it
 * happens (an email or push leaving, the breaker being asked, a run told "busy", checked at the
 * end of that minute); the breaker check runs every minute. Due times only move at ticks and
 * processor runs, so an hourly scan sees every overdue state that outlives one tick interval —
 * and the bounds below are longer than that — for a small share of a seed's run time.
 *
 * Bounds: with faults off and the fault period's leases and retries over (`settledAt`), the
 * fault-free bound applies; while faults are on, every retry of a step can itself be hit by a
 * fault, so a bound of `chaosSlackMs` (hours) applies instead — far above what a run of bad luck
 * costs (each delay is one tick with a probability of a few percent), far below "forever".
 */

import { EVENT_TYPES, isQueueable } from "@/core/events";
import type { EmailToSend } from "@/pipeline/channel-ports";
import { STALE_SLOT_AFTER_MS } from "@/pipeline/close-stale-slots";
import { HOUR, llmHealthySince, type World } from "./world";

/**
 * An event the app wrote without a queueable status or ready time is queued within this: the
 * stray sweep looks at 100 events per drain (every 5 minutes), so a pass over a seed's events
 * (under 10,000) takes under 9 hours.
 */
const STRAY_EVENT_BOUND_MS = 12 * HOUR;

/** A user without a numeric due time is scheduled within this (the sweep's pass bound). */
const UNSCHEDULED_BOUND_MS = 24 * HOUR;

const localDayFormats = new Map<string, Intl.DateTimeFormat>();

/** The calendar day of `at` in `timezone` (YYYY-MM-DD). */
function localDay(at: number, timezone: string): string {
  let format = localDayFormats.get(timezone);
  if (!format) {
    format = new Intl.DateTimeFormat("en-CA", {
      timeZone: timezone,
      year: "numeric",
      month: "2-digit",
      day: "2-digit",
    });
    localDayFormats.set(timezone, format);
  }
  return format.format(at);
}

export interface Violation {
  invariant:
    | "user-schedule-liveness"
    | "one-per-slot"
    | "email-only-after-journal"
    | "breaker-heals"
    | "outbox-liveness"
    | "no-stuck-lease"
    | "one-per-local-day";
  /** The defect of issue 11 part A that this violation shows on today's code, when known. */
  detail: string;
  /** The user, slot or event concerned: trace lines that mention it are reported. */
  subject: string;
  /** Other ids whose trace lines belong to the story (the run that took a lost probe). */
  alsoRelated: string[];
  at: string;
}

export class InvariantChecker {
  /** The first violation: the seed stops here. */
  violation: Violation | null = null;
  /** The first violation of each invariant, for a diagnostic run that carries on past the first. */
  readonly firstByInvariant = new Map<Violation["invariant"], Violation>();
  private readonly emailsBySlot = new Map<string, number>();
  private readonly pushesByMessage = new Map<string, number>();
  /** Times the breaker was asked while open, for the current opening. */
  private acquiresWhileOpen: number[] = [];
  private trackedOpening: number | null = null;
  private readonly busyAnswers: string[] = [];
  private lastProbe: { runLabel: string; at: number } | null = null;

  constructor(private readonly world: World) {}

  private fail(
    invariant: Violation["invariant"],
    subject: string,
    detail: string,
    alsoRelated: string[] = [],
  ): void {
    if (this.firstByInvariant.has(invariant)) return;
    const violation = {
      invariant,
      subject,
      detail,
      alsoRelated,
      at: new Date(this.world.clock.now).toISOString(),
    };
    this.firstByInvariant.set(invariant, violation);
    this.violation ??= violation;
  }

  private settled(): boolean {
    return this.world.clock.now >= this.world.settledAt;
  }

  private bound(faultFreeMs: number): number {
    return this.settled() ? faultFreeMs : this.world.settings.chaosSlackMs;
  }

  /** An email left the mailer: its message must be sent and in the journal, and the only email of its slot. */
  onEmail(email: EmailToSend): void {
    const slotId = email.idempotencyKey.slice(`${EVENT_TYPES.coachingMessageCreated}_`.length);
    const { data } = this.world;
    const message = data.messages.get(slotId);
    const uid = message?.uid ?? "";
    const inJournal = (data.journal.get(uid) ?? []).some(
      (entry) => "coachingMessageId" in entry && entry.coachingMessageId === slotId,
    );
    if (message?.status !== "sent" || !inJournal) {
      this.fail(
        "email-only-after-journal",
        slotId,
        `email for slot ${slotId} went out while its message is ${message?.status ?? "missing"} and ${inJournal ? "in" : "not in"} the journal (defect 4)`,
      );
    }
    const emails = (this.emailsBySlot.get(slotId) ?? 0) + 1;
    this.emailsBySlot.set(slotId, emails);
    if (emails > 1) this.fail("one-per-slot", slotId, `${emails} emails for slot ${slotId}`);
  }

  onPush(messageId: string): void {
    const pushes = (this.pushesByMessage.get(messageId) ?? 0) + 1;
    this.pushesByMessage.set(messageId, pushes);
    if (pushes > 1) this.fail("one-per-slot", messageId, `${pushes} pushes for message ${messageId}`);
  }

  /** A processor run answered "busy" for this slot: someone must hold it (checked at the end of the minute). */
  onSlotBusy(slotId: string): void {
    this.busyAnswers.push(slotId);
  }

  /**
   * "Busy" is only true while another run holds the slot. Checked at the end of the minute, when
   * the concurrent runs of that minute have finished their claims: the slot record must reflect
   * the newest lease taken on it (or be completed). A lease document newer than the record means
   * a claim whose second write never happened: that run holds nothing, and every later run
   * computes the same lease number, fails to create it and is told "busy" too. (A record whose
   * lease was released by `recoverFromError` still reflects that lease, so it is not flagged.)
   */
  checkBusyAnswers(): void {
    for (const slotId of this.busyAnswers.splice(0)) {
      const slot = this.world.data.slots.get(slotId);
      if (slot?.status === "completed") continue;
      const strandedLease = (slot?.leaseNumber ?? 0) + 1;
      if (!this.world.data.leases.has(`${slotId}_${strandedLease}`)) continue;
      this.fail(
        "no-stuck-lease",
        slotId,
        `a run was told slot ${slotId} is busy, but lease ${strandedLease} was created and the slot record ${slot ? `still shows lease ${slot.leaseNumber}` : "was never saved"}: no one holds it, and every later claim is refused the same way (defect 2: a claim whose second write never happened)`,
      );
    }
  }

  onBreakerAcquire(at: number, answer: "closed" | "open" | "probe", runLabel: string): void {
    if (answer === "probe") this.lastProbe = { runLabel, at };
    if (this.world.database.llmBreaker?.state === "open") this.acquiresWhileOpen.push(at);
  }

  /**
   * Once the LLM is healthy and the cool-down is over, an open breaker must let a probe through
   * and close. A probe may be lost (its run killed), so the bound counts *probe opportunities*:
   * processor runs that asked the breaker at least a probe window (`probeTimeoutMs`) apart after
   * the cool-down: each window has its own probe claim, so a lost probe costs one window. Settled, two
   * opportunities must suffice (one may still be a probe lost before the faults stopped); with
   * faults on, five (each probe run can itself be hit).
   */
  checkBreaker(): void {
    const { world } = this;
    const breaker = world.database.llmBreaker;
    if (breaker?.state !== "open") {
      this.trackedOpening = null;
      this.acquiresWhileOpen = [];
      return;
    }
    if (breaker.openedAt !== this.trackedOpening) {
      this.trackedOpening = breaker.openedAt;
      this.acquiresWhileOpen = [];
    }
    const now = world.clock.now;
    const healthyFrom = Math.max(
      breaker.openUntil ?? 0,
      llmHealthySince(world, now),
      this.settled() ? world.settledAt : 0,
    );
    const needed = this.settled() ? 2 : 5;
    let opportunities = 0;
    let lastCounted = Number.NEGATIVE_INFINITY;
    for (const at of this.acquiresWhileOpen) {
      // Acquires a probe window apart fall in different windows, each with a probe of its own.
      if (at < healthyFrom || at < lastCounted + world.settings.breaker.probeTimeoutMs) continue;
      opportunities += 1;
      lastCounted = at;
    }
    if (opportunities >= needed) {
      this.fail(
        "breaker-heals",
        "breaker",
        `breaker opened at ${new Date(breaker.openedAt ?? 0).toISOString()} is still open after ${opportunities} probe opportunities with a healthy LLM since ${new Date(healthyFrom).toISOString()}; the last probe was taken by ${this.lastProbe ? `${this.lastProbe.runLabel} at ${new Date(this.lastProbe.at).toISOString()}` : "no run"} and never reported (defect 1)`,
        this.lastProbe ? [this.lastProbe.runLabel] : [],
      );
    }
  }

  /**
   * Every enabled, valid user holds a due time no older than one tick interval plus the lease
   * (a due user is taken by the next tick; a run that died holds its slot for at most the lease,
   * after which the next tick resumes it), or an active claim on that due slot that expires
   * within the lease. "Future due time" between hourly ticks means exactly this: a due time in
   * the past is fine until the tick that must take it has run.
   */
  checkUsers(): void {
    const { world } = this;
    const now = world.clock.now;
    const { leaseMs, tickIntervalMs } = world.settings;
    const maxAge = this.bound(tickIntervalMs + leaseMs);
    for (const uid of world.coachedUsers) {
      const document = world.database.users.get(uid);
      const due = document?.nextCoachingMessageDue;
      const dueAt = typeof due === "number" ? due : world.start;
      // No numeric due time (missing, or a Timestamp or string the app wrote): the sweep by
      // document id must find the user within a day (issue 11, defect 3).
      const allowed =
        typeof due === "number" || due === null ? maxAge : Math.max(maxAge, UNSCHEDULED_BOUND_MS);
      // A user the app switched back on is owed a run from then on, not from a due time that
      // passed while coaching was off (the enable handler puts a user with an approved message
      // back on that slot's past due time).
      const owedSince = Math.max(dueAt, world.coachedSince.get(uid) ?? Number.NEGATIVE_INFINITY);
      if (now - owedSince <= allowed) continue;
      const slot = world.data.slots.get(`${uid}_${dueAt}`);
      if (slot?.status === "running" && slot.leaseUntil > now && slot.leaseUntil <= now + leaseMs) continue;
      const lease = [...world.data.leases.keys()].filter((id) => id.startsWith(`${uid}_${dueAt}_`));
      this.fail(
        "user-schedule-liveness",
        uid,
        `user ${uid} has been due since ${new Date(dueAt).toISOString()} with no active claim (slot ${slot ? `${slot.status}, lease ${slot.leaseNumber} until ${new Date(slot.leaseUntil).toISOString()}` : "never saved"}; lease documents: ${lease.join(", ") || "none"})${slot === undefined && lease.length > 0 ? " (defect 2: lease created, slot never saved)" : ""}`,
      );
      return;
    }
  }

  /** At most one sent message and one journal entry per slot; no approved message or expired slot lease left behind. */
  checkSlots(): void {
    const { world } = this;
    const now = world.clock.now;
    const { leaseMs, tickIntervalMs } = world.settings;
    for (const [uid, entries] of world.data.journal) {
      const seen = new Set<string>();
      for (const entry of entries) {
        if (!("coachingMessageId" in entry)) continue;
        if (seen.has(entry.coachingMessageId)) {
          this.fail(
            "one-per-slot",
            entry.coachingMessageId,
            `two journal entries for ${entry.coachingMessageId} (${uid})`,
          );
          return;
        }
        seen.add(entry.coachingMessageId);
      }
    }
    const approved = [...world.data.messages.values()].filter((message) => message.status === "approved");
    const approvedUsers = new Set(approved.map((message) => message.uid));
    /** Every generation attempt (any status) of the users with an approved message waiting. */
    const attemptsByUser = new Map<string, { id: string; slotId: string; createdAt: number }[]>();
    if (approved.length > 0) {
      for (const message of world.data.messages.values()) {
        if (!approvedUsers.has(message.uid)) continue;
        const attempts = attemptsByUser.get(message.uid) ?? [];
        attempts.push(message);
        attemptsByUser.set(message.uid, attempts);
      }
    }
    for (const message of approved) {
      // The issue's rule (defect 4): nothing new is generated for a user while a slot of theirs
      // holds an approved message, window or not.
      const newer = (attemptsByUser.get(message.uid) ?? []).find(
        (attempt) => attempt.slotId !== message.slotId && attempt.createdAt > message.createdAt,
      );
      if (newer) {
        this.fail(
          "no-stuck-lease",
          message.slotId,
          `approved message ${message.id} (created ${new Date(message.createdAt).toISOString()}) was passed over: ${newer.id} was generated after it (defect 4: abandoned when the slot was rescheduled)`,
          [newer.id],
        );
        return;
      }
      // While the user is still due at the message's slot, the next tick resumes it within the
      // bound. A user whose due time moved off the slot (switched off, parked, switched on
      // again) gets it at their next run, before anything new (the check above); not before.
      if (world.database.users.get(message.uid)?.nextCoachingMessageDue !== message.scheduledFor) continue;
      // A user who switched coaching off is not sent the message (it is resumed once they switch
      // it on again); a suspended one gets it when the suspension ends.
      if (!world.coachedUsers.has(message.uid)) continue;
      const suspendUntil = world.database.users.get(message.uid)?.suspendUntil;
      const waitingSince = Math.max(
        message.createdAt,
        world.coachedSince.get(message.uid) ?? 0,
        typeof suspendUntil === "number" ? suspendUntil : 0,
      );
      if (now - waitingSince > this.bound(tickIntervalMs + leaseMs)) {
        this.fail(
          "no-stuck-lease",
          message.slotId,
          `approved message ${message.id} (created ${new Date(message.createdAt).toISOString()}) was never completed while its user stayed due at its slot`,
        );
        return;
      }
    }
    for (const slot of world.data.slots.values()) {
      // Any user's slot, coached or not: one nobody takes over is closed by the tick's sweep
      // (pipeline/close-stale-slots.ts) once its lease ended STALE_SLOT_AFTER_MS ago.
      if (
        slot.status === "running" &&
        now - slot.leaseUntil > this.bound(STALE_SLOT_AFTER_MS + tickIntervalMs)
      ) {
        this.fail(
          "no-stuck-lease",
          slot.slotId,
          `slot ${slot.slotId} lease ${slot.leaseNumber} expired at ${new Date(slot.leaseUntil).toISOString()} and the slot is still running: neither taken over nor closed by the sweep`,
        );
        return;
      }
    }
    for (const slot of world.data.slots.values()) {
      if (slot.status !== "running" || !world.coachedUsers.has(slot.uid)) continue;
      // As for users: a slot left while coaching was off is owed a run from the switch back on.
      const owedSince = Math.max(
        slot.leaseUntil,
        world.coachedSince.get(slot.uid) ?? Number.NEGATIVE_INFINITY,
      );
      if (now - owedSince <= this.bound(tickIntervalMs)) continue;
      if (world.database.users.get(slot.uid)?.nextCoachingMessageDue !== slot.dueAt) continue;
      this.fail(
        "no-stuck-lease",
        slot.slotId,
        `slot ${slot.slotId} lease ${slot.leaseNumber} expired at ${new Date(slot.leaseUntil).toISOString()} and no run took it over (defect 2 when lease ${slot.leaseNumber + 1} exists: ${world.data.leases.has(`${slot.slotId}_${slot.leaseNumber + 1}`)})`,
      );
      return;
    }
  }

  /**
   * A daily user gets at most one message per local day: no two sent messages answer slots due
   * on the same local calendar day (a switch off and on again after the day's message, or a
   * second schedule written by a racing writer, would give a second one).
   */
  checkDailyMessages(): void {
    const { world } = this;
    for (const [uid, sent] of world.data.sentByUser) {
      if (sent.length < 2) continue;
      const document = world.database.users.get(uid);
      const config = document?.coachingConfig as { frequency?: string } | undefined;
      if (config?.frequency !== "daily" || typeof document?.timezone !== "string") continue;
      const days = new Map<string, string>();
      for (const message of sent) {
        const day = localDay(message.scheduledFor, document.timezone);
        const other = days.get(day);
        if (other !== undefined && other !== message.id) {
          this.fail(
            "one-per-local-day",
            uid,
            `daily user ${uid} got two messages for local day ${day} (${document.timezone}): ${other} and ${message.id}`,
            [other, message.id],
          );
          return;
        }
        days.set(day, message.id);
      }
    }
  }

  /** No pending event whose next attempt is due stays unclaimed for longer than an outbox interval plus its lease. */
  checkOutbox(): void {
    const { world } = this;
    const now = world.clock.now;
    const { outboxIntervalMs, eventLeaseMs, outboxChaosSlackMs } = world.settings;
    // Settled: the next outbox run after the event became ready (or after a dead run's lease ended) takes it.
    const maxAge = this.settled() ? outboxIntervalMs + eventLeaseMs + 60_000 : outboxChaosSlackMs;
    for (const event of world.data.events.values()) {
      if (!isQueueable(event as unknown as Record<string, unknown>)) {
        // Written by the app without `status` or `next_attempt_at`: the ready query cannot see it,
        // and only the drains' sweep by id can queue it, within one pass over the collection.
        if (now - event.created_at <= STRAY_EVENT_BOUND_MS) continue;
        this.fail(
          "outbox-liveness",
          event.id,
          `event ${event.id}, written ${new Date(event.created_at).toISOString()} without a queueable status or ready time, was never queued by the stray sweep`,
        );
        return;
      }
      if (event.status !== "pending" || now - event.next_attempt_at <= maxAge) continue;
      const nextLease = world.outbox.leases.get(`${event.id}_${event.lease_number + 1}`);
      this.fail(
        "outbox-liveness",
        event.id,
        `event ${event.id} has been ready since ${new Date(event.next_attempt_at).toISOString()} and no run took it${nextLease ? ` (defect 2: lease ${event.lease_number + 1} was created at ${new Date(nextLease.claimedAt).toISOString()} but the event never updated)` : ""}`,
      );
      return;
    }
  }
}

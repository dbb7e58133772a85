import { notFound } from "next/navigation";
import type { ReactNode } from "react";
import { getConfig } from "@/config";
import { AppError } from "@/core/errors";
import { describeAcuteRiskOutcome } from "@/core/risk";
import { documentIdSchema } from "@/http/respond";
import { userDetail, userJournal } from "@/services/admin";
import { requireAdminSession } from "@/services/admin-auth";
import { clearUserAction, generateNowAction, resumeAction, suspendAction } from "../../actions";
import { CellNote, DataTable, formatInstant, formatRelative, Notice, StatusBadge } from "../../ui";

/** One figure of a panel: its label and its value. */
function Fact({ label, testId, children }: { label: string; testId?: string; children: ReactNode }) {
  return (
    <div>
      <dt>{label}</dt>
      <dd style={{ fontSize: 14 }} data-testid={testId}>
        {children}
      </dd>
    </div>
  );
}

/** A rolling log of the processing state, newest first: when, what, and a note; `empty` when it has none. */
function RollingLog({
  entries,
  timezone,
  empty = null,
  noteClass,
}: {
  entries: { timestamp: number; what: string; note: string }[];
  timezone: string;
  empty?: string | null;
  noteClass?: string;
}) {
  return (
    <DataTable empty={entries.length === 0 ? empty : null}>
      {entries.map((entry, index) => (
        // biome-ignore lint/suspicious/noArrayIndexKey: a rolling log; position is its identity.
        <tr key={index}>
          <td className="muted">{formatInstant(entry.timestamp, timezone)}</td>
          <td>{entry.what}</td>
          <td className={noteClass}>{entry.note}</td>
        </tr>
      ))}
    </DataTable>
  );
}

async function load(uid: string) {
  const config = getConfig();
  try {
    return await Promise.all([userDetail(config, uid, Date.now()), userJournal(config, uid)]);
  } catch (error) {
    if (error instanceof AppError && error.type === "not_found") notFound();
    throw error;
  }
}

/** The path segment as text; a malformed escape (`%E0%A4`) is taken as written rather than thrown. */
function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

export default async function UserPage({
  params,
  searchParams,
}: {
  params: Promise<{ userId: string }>;
  searchParams: Promise<{ notice?: string | string[] }>;
}) {
  await requireAdminSession();
  const requested = decodeSegment((await params).userId);
  const parsed = documentIdSchema.safeParse(requested);
  if (!parsed.success) {
    return (
      <>
        <h1>Not a user id</h1>
        <p className="warning" role="alert" data-testid="invalid-id">
          “{requested.slice(0, 200)}” cannot be a user id: it{" "}
          {parsed.error.issues[0]?.message ?? "is malformed"}.
        </p>
        <p>
          <a href="/admin/users">Back to users</a>
        </p>
      </>
    );
  }
  const uid = parsed.data;
  const notice = [(await searchParams).notice].flat()[0];
  const [detail, journal] = await load(uid);
  const now = Date.now();
  const timezone = detail.timezone ?? "UTC";
  const { state } = detail;
  return (
    <>
      <h1>
        {detail.email ?? uid} <StatusBadge status={state.status} />
      </h1>
      <Notice notice={notice} />
      <div className="grid">
        <section className="panel" aria-labelledby="config-heading">
          <h2 id="config-heading">Configuration</h2>
          <dl className="stats">
            <Fact label="User id">{uid}</Fact>
            <Fact label="Time zone">
              {timezone} · {detail.localDateTime?.replace("T", " ") ?? "—"}
            </Fact>
            <Fact label="Preference / frequency">
              {detail.coachingConfig
                ? `${detail.coachingConfig.timePreference} · ${detail.coachingConfig.frequency}${
                    detail.coachingConfig.enableCoachingMessages ? "" : " · off"
                  }`
                : (detail.problem ?? "—")}
            </Fact>
            <Fact label="Next due" testId="next-due">
              {formatInstant(detail.nextCoachingMessageDue, timezone)} (
              {formatRelative(detail.nextCoachingMessageDue, now)})
            </Fact>
          </dl>
        </section>
        <section className="panel" aria-labelledby="state-heading">
          <h2 id="state-heading">Processing</h2>
          <dl className="stats">
            <Fact label="Status" testId="user-status">
              {state.status}
            </Fact>
            <Fact label="Sent / generated">
              {state.stats.messagesSent} / {state.stats.messagesGenerated}
            </Fact>
            <Fact label="Gate skips / errors">
              {state.stats.gateSkipped} / {state.stats.errors}
            </Fact>
            <Fact label="Emails sent (today, UTC)" testId="emails-sent">
              {detail.deliveries.totalEmailsSent} ({detail.deliveries.emailsSentToday})
            </Fact>
            <Fact label="Last email" testId="last-email">
              {detail.deliveries.lastEmailSentAt === null
                ? "never"
                : `${formatInstant(detail.deliveries.lastEmailSentAt, timezone)} (${formatRelative(detail.deliveries.lastEmailSentAt, now)})`}
            </Fact>
            <Fact label="Pushes sent (today, UTC)">
              {detail.deliveries.totalPushesSent} ({detail.deliveries.pushesSentToday})
            </Fact>
            <Fact label="Failures in a row">{state.consecutiveFailures}</Fact>
            <Fact label="LLM key" testId="own-key">
              {detail.ownKey
                ? `own key ···${detail.ownKey.last4} (${detail.ownKey.status})`
                : "engine default"}
            </Fact>
          </dl>
          {state.status === "suspended" ? (
            <p>
              Suspended until {formatInstant(state.suspendUntil, timezone)}: {state.suspendReason}
            </p>
          ) : null}
          {state.lastAcuteRiskAt !== undefined ? (
            <p className="warning" role="status" data-testid="acute-risk-flag">
              Acute risk read in this user&apos;s entries {formatRelative(state.lastAcuteRiskAt, now)} (
              {formatInstant(state.lastAcuteRiskAt, timezone)}, slot {state.lastAcuteRiskSlotId ?? "—"}).{" "}
              {describeAcuteRiskOutcome(state.lastAcuteRiskOutcome)} The schedule was not brought forward.
            </p>
          ) : null}
        </section>
      </div>

      <section className="panel" aria-labelledby="actions-heading">
        <h2 id="actions-heading">Actions</h2>
        <form action={generateNowAction} className="inline">
          <input type="hidden" name="userId" value={uid} />
          <label>
            <input type="checkbox" name="bypassChecks" defaultChecked /> bypass due and window checks
          </label>
          <button type="submit">Generate now</button>
        </form>
        {state.status === "suspended" ? (
          <form action={resumeAction} className="inline">
            <input type="hidden" name="userId" value={uid} />
            <button type="submit">Resume</button>
          </form>
        ) : (
          <form action={suspendAction} className="inline">
            <input type="hidden" name="userId" value={uid} />
            <label htmlFor="hours">Hours</label>
            <input
              id="hours"
              name="hours"
              type="number"
              min="1"
              max="8760"
              defaultValue="24"
              style={{ width: 80 }}
            />
            <label htmlFor="reason">Reason</label>
            <input id="reason" name="reason" required maxLength={300} />
            <button type="submit" className="secondary">
              Suspend
            </button>
          </form>
        )}
        <details>
          <summary>Clear this user&apos;s coaching data</summary>
          <form action={clearUserAction} className="inline" style={{ marginTop: 8 }}>
            <input type="hidden" name="userId" value={uid} />
            <label htmlFor="confirm">Type the user id to confirm</label>
            <input id="confirm" name="confirm" autoComplete="off" />
            <button type="submit" className="danger">
              Clear data
            </button>
          </form>
        </details>
      </section>

      <section className="panel" aria-labelledby="messages-heading">
        <h2 id="messages-heading">Coaching messages</h2>
        <div data-testid="messages">
          {detail.messages.length === 0 ? <p className="muted">None yet.</p> : null}
          {detail.messages.map((message) => (
            <article key={message.id} className="message" data-testid="message">
              <div>
                <StatusBadge status={message.status} /> <strong>{message.messageType ?? "—"}</strong>
                <span className="muted">
                  {" "}
                  · {formatInstant(message.createdAt, timezone)} · rating {message.effectivenessRating ?? "—"}{" "}
                  · {message.recommendedAction ?? "—"} · {message.tokenUsage?.totalTokens ?? 0} tokens
                  {message.tokenUsage?.cost ? ` · $${message.tokenUsage.cost.toFixed(4)}` : ""}
                </span>
              </div>
              {message.riskLevel && message.riskLevel !== "none" ? (
                <p className="warning" data-testid="message-risk">
                  Risk {message.riskLevel}
                  {message.riskReason ? `: ${message.riskReason}` : ""} (operators only; not shown to the
                  user)
                </p>
              ) : null}
              {message.messageContent ? <p>{message.messageContent}</p> : null}
              {message.failureReason ? <p className="error-text">{message.failureReason}</p> : null}
              {message.traceId ? (
                <CellNote>
                  trace <code data-testid="message-trace-id">{message.traceId}</code>
                </CellNote>
              ) : null}
              <details>
                <summary>Context used</summary>
                <pre>{JSON.stringify(message.contextUsed, null, 2)}</pre>
              </details>
            </article>
          ))}
        </div>
      </section>

      <div className="grid">
        <section className="panel" aria-labelledby="history-heading">
          <h2 id="history-heading">Action history</h2>
          <RollingLog
            timezone={timezone}
            entries={state.actionHistory.map((entry) => ({
              timestamp: entry.timestamp,
              what: entry.action,
              note: entry.details ?? "",
            }))}
          />
        </section>
        <section className="panel" aria-labelledby="errors-heading">
          <h2 id="errors-heading">Recent errors</h2>
          <RollingLog
            timezone={timezone}
            empty="None."
            noteClass="error-text"
            entries={state.recentErrors.map((entry) => ({
              timestamp: entry.timestamp,
              what: entry.phase,
              note: entry.errorMessage,
            }))}
          />
        </section>
      </div>

      <section className="panel" aria-labelledby="journal-heading">
        <h2 id="journal-heading">Journal</h2>
        {journal.map((entry) => (
          <article key={entry.id} className="message">
            <div>
              {entry.isCoachingMessage ? <span className="badge coaching">coaching</span> : null}{" "}
              <strong>{entry.title ?? ""}</strong>{" "}
              <span className="muted">{formatInstant(entry.createdAt, timezone)}</span>
            </div>
            {/* Coaching entries are Markdown with a heading; shown as text, without the heading marks. */}
            <p style={{ whiteSpace: "pre-wrap" }}>{entry.content.replace(/^#{1,6}\s+/gm, "")}</p>
          </article>
        ))}
      </section>
    </>
  );
}

import { getConfig } from "@/config";
import { dashboardData, llmCeilingUsage } from "@/services/admin";
import { requireAdminSession } from "@/services/admin-auth";
import { alertsOverview } from "@/services/alerts";
import { dashboardMetrics } from "@/services/metrics";
import { promptExperimentOverview } from "@/services/prompt-experiments";
import { resetBreakerAction } from "./actions";
import { AlertsPanel } from "./alerts-panel";
import { CeilingUsage } from "./ceiling-usage";
import { EngagementPanels } from "./engagement/engagement-table";
import { ExperimentPanel } from "./experiment-panel";
import { MetricsPanels } from "./metrics-panels";
import { BarChart, DataTable, formatInstant, formatRelative, Notice, Stat, StatusBadge } from "./ui";

export default async function DashboardPage({
  searchParams,
}: {
  searchParams: Promise<{ notice?: string }>;
}) {
  await requireAdminSession();
  const { notice } = await searchParams;
  const now = Date.now();
  const config = getConfig();
  const [{ status, daily, ratings, duePerHour, runs, acuteRisk }, ceiling, metrics, alerts] =
    await Promise.all([
      dashboardData(config, now),
      llmCeilingUsage(config, now),
      dashboardMetrics(config, now),
      alertsOverview(config),
    ]);
  const { engagement } = metrics.days;
  // From the 14-day rollups just read, plus one read of the stopped variants.
  const experiment = await promptExperimentOverview(config, metrics.days);
  const day = (at: number) =>
    new Intl.DateTimeFormat("en-GB", { timeZone: "UTC", day: "numeric", month: "short" }).format(at);
  return (
    <>
      <h1>Dashboard</h1>
      <Notice notice={notice} />
      {status.schedulerStale ? (
        <p className="warning" role="status" data-testid="stale-warning">
          {status.lastRun
            ? `The last scheduler run started ${formatRelative(status.lastRun.startedAt, now)}: the hourly cron may have stopped.`
            : "No scheduler run yet: check the hourly cron."}
        </p>
      ) : null}
      {status.llmBreaker.state === "open" ? (
        <p className="warning" role="status" data-testid="breaker-warning">
          The LLM circuit breaker has been open since {formatInstant(status.llmBreaker.openedAt)} (
          {status.llmBreaker.lastError ?? "repeated failures"}): no LLM calls, due users get their retry
          interval. Next probe call {formatRelative(status.llmBreaker.nextProbeAt, now)}.
        </p>
      ) : null}
      <AlertsPanel alerts={alerts.alerts} posting={alerts.posting} now={now} />
      <div className="grid">
        <section className="panel" aria-labelledby="users-heading">
          <h2 id="users-heading">Users by status</h2>
          <dl className="stats">
            {Object.entries(status.usersByStatus).map(([name, count]) => (
              <Stat key={name} label={name} value={count} testId={`status-${name}`} />
            ))}
            <Stat label="not processed yet" value={status.usersNeverProcessed} testId="status-never" />
          </dl>
          {status.usersAsOf === null ? null : (
            <p className="muted" data-testid="users-as-of">
              As the metrics rollup counted them {formatRelative(status.usersAsOf, now)}.
            </p>
          )}
        </section>
        <section className="panel" aria-labelledby="today-heading">
          <h2 id="today-heading">Today (UTC)</h2>
          <dl className="stats">
            <Stat label="messages sent" value={status.today.messagesSent} testId="sent-today" />
            <Stat label="gate failures" value={status.today.gateFailures} testId="gate-failures-today" />
            <Stat label="due next hour" value={status.due.nextHour} testId="due-next-hour" />
            <Stat label="overdue" value={status.due.overdue} testId="overdue" />
          </dl>
        </section>
        <section className="panel" aria-labelledby="safety-heading">
          <h2 id="safety-heading">Safety</h2>
          <dl className="stats">
            <Stat label="acute risk, last 24 h" value={acuteRisk.last24h} testId="acute-risk-24h" />
            <Stat label="acute risk, last 7 days" value={acuteRisk.last7d} testId="acute-risk-7d" />
          </dl>
          <p className="muted">
            Generation attempts whose entries the model read as acute risk; the users are flagged on their
            pages.
          </p>
          {acuteRisk.recent.length > 0 ? (
            <ul data-testid="acute-risk-recent">
              {acuteRisk.recent.map((attempt) => (
                <li key={`${attempt.slotId}-${attempt.createdAt}`}>
                  <a href={`/admin/users/${encodeURIComponent(attempt.uid)}`}>{attempt.uid}</a>{" "}
                  <span className="muted">
                    {formatInstant(attempt.createdAt)} ({formatRelative(attempt.createdAt, now)})
                  </span>
                </li>
              ))}
            </ul>
          ) : null}
        </section>
        <section className="panel" aria-labelledby="events-heading">
          <h2 id="events-heading">Outbox</h2>
          <dl className="stats">
            <Stat label="pending events" value={status.events.pending} testId="pending-events" />
            <Stat label="dead letters" value={status.events.deadLetters} testId="dead-letters" />
          </dl>
        </section>
        <section className="panel" aria-labelledby="breaker-heading">
          <h2 id="breaker-heading">LLM circuit breaker</h2>
          <dl className="stats">
            <Stat
              label="state"
              value={<StatusBadge status={status.llmBreaker.state} />}
              testId="breaker-state"
            />
            <Stat
              label="consecutive failures"
              value={status.llmBreaker.consecutiveFailures}
              testId="breaker-failures"
            />
            <Stat label="opened" value={formatInstant(status.llmBreaker.openedAt)} testId="breaker-opened" />
            <Stat
              label="next probe"
              value={
                status.llmBreaker.nextProbeAt === null
                  ? "—"
                  : `${formatInstant(status.llmBreaker.nextProbeAt)}${status.llmBreaker.probeInFlight ? " (a probe is running)" : ""}`
              }
              testId="breaker-next-probe"
            />
          </dl>
          {status.llmBreaker.lastError ? (
            <p className="muted" data-testid="breaker-last-error">
              Last error {formatRelative(status.llmBreaker.lastFailureAt, now)}: {status.llmBreaker.lastError}
            </p>
          ) : null}
          {status.llmBreaker.state === "open" || status.llmBreaker.consecutiveFailures > 0 ? (
            <form action={resetBreakerAction} className="inline">
              <button type="submit">Reset breaker</button>
            </form>
          ) : null}
        </section>
      </div>
      <section className="panel" aria-labelledby="ceiling-heading">
        <h2 id="ceiling-heading">LLM calls per minute against the ceiling (UTC)</h2>
        <CeilingUsage usage={ceiling} />
      </section>
      <section className="panel" aria-labelledby="sent-heading">
        <h2 id="sent-heading">Messages sent and gate failures, last 14 days (day of month, UTC)</h2>
        <BarChart
          title="Messages sent and gate failures per day"
          labels={daily.map((entry) => day(entry.day))}
          series={[
            { name: "sent", color: "#2f5d50", values: daily.map((entry) => entry.sent) },
            { name: "gate failures", color: "#cf222e", values: daily.map((entry) => entry.gateFailures) },
          ]}
        />
      </section>
      <div className="grid">
        <section className="panel" aria-labelledby="ratings-heading">
          <h2 id="ratings-heading">Effectiveness ratings, last 14 days</h2>
          <BarChart
            title="Sent messages by effectiveness rating"
            labels={ratings.map((entry) => String(entry.rating))}
            series={[{ name: "messages", color: "#0969da", values: ratings.map((entry) => entry.count) }]}
          />
        </section>
        <section className="panel" aria-labelledby="due-heading">
          <h2 id="due-heading">Users due per hour, next 24 h (UTC)</h2>
          <BarChart
            title="Users due per hour"
            labels={duePerHour.map((entry) => new Date(entry.hour).getUTCHours().toString().padStart(2, "0"))}
            series={[{ name: "due", color: "#8250df", values: duePerHour.map((entry) => entry.count) }]}
          />
        </section>
      </div>
      <MetricsPanels hours={metrics.hours} days={metrics.days} />
      <ExperimentPanel overview={experiment} />
      <div id="engagement">
        <EngagementPanels
          engagement={engagement}
          period={`messages sent in the last 14 UTC days, ${engagement.days} of them counted${engagement.lastCountedAt === null ? "" : `, last counted ${formatRelative(engagement.lastCountedAt, now)}`}`}
        />
      </div>
      <section className="panel" aria-labelledby="runs-heading">
        <h2 id="runs-heading">Last scheduler runs</h2>
        <DataTable
          columns={["Started", "Status", "Due", "Dispatched", "Errors"]}
          empty={runs.length === 0 ? "No runs yet." : null}
        >
          {runs.map((run) => (
            <tr key={run.runId}>
              <td>
                {formatInstant(run.startedAt)}{" "}
                <span className="muted">({formatRelative(run.startedAt, now)})</span>
              </td>
              <td>
                <StatusBadge status={run.status} />
              </td>
              <td>{run.results?.usersDue ?? 0}</td>
              <td>{run.results?.jobsCreated ?? 0}</td>
              <td>{run.results?.errors ?? 0}</td>
            </tr>
          ))}
        </DataTable>
      </section>
    </>
  );
}

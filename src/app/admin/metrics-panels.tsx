/** The dashboard's figures from the hourly rollup: 24 hours and 14 days of charts (issue 15). */
import type { DerivedRates, MetricsFigures } from "@/core/metrics";
import { MAX_MODELS_SHOWN, MAX_MODELS_STORED, OTHER_MODELS } from "@/core/metrics-llm";
import type { UserFigures } from "@/core/metrics-snapshot";
import type { MetricsBucket, MetricsOverview } from "@/pipeline/metrics-overview";
import { BarChart, type BarSeries, formatInstant, Stat } from "./ui";

function percent(rate: number | null): string {
  return rate === null ? "—" : `${Math.round(rate * 1_000) / 10}%`;
}

function seconds(ms: number | null): string {
  return ms === null ? "—" : `≤ ${ms / 1_000} s`;
}

function dollars(amount: number | null, digits = 3): string {
  return amount === null ? "—" : `$${amount.toFixed(digits)}`;
}

/** Colours for the models' bars, most calls first (the other models' entry last, grey). */
const MODEL_COLORS = ["#0969da", "#8250df", "#2f5d50", "#bf8700", "#cf222e", "#3d5a4c", "#8a6d3b", "#1b7c83"];

/** The day of the month (UTC): 14 of them are unique, and they fit under the bars. */
function dayLabel(at: number): string {
  return String(new Date(at).getUTCDate());
}

function hourLabel(at: number): string {
  return new Date(at).getUTCHours().toString().padStart(2, "0");
}

/** A value per bucket, 0 where nothing is rolled up yet. */
function values(
  series: MetricsBucket[],
  pick: (figures: MetricsFigures, rates: DerivedRates) => number,
): number[] {
  return series.map((entry) => (entry.figures && entry.rates ? pick(entry.figures, entry.rates) : 0));
}

/** A chart with its title shown above it (the SVG's own title is for screen readers). */
function TitledChart({ title, labels, series }: { title: string; labels: string[]; series: BarSeries[] }) {
  return (
    <div>
      <h3 style={{ fontSize: 14, margin: "0 0 4px" }}>{title}</h3>
      <BarChart title={title} labels={labels} series={series} />
    </div>
  );
}

function SeriesCharts({ overview, label }: { overview: MetricsOverview; label: (at: number) => string }) {
  const { series } = overview;
  const labels = series.map((entry) => label(entry.start));
  const per = overview.bucket === "hour" ? "per hour" : "per day";
  return (
    // Two charts a row: the bars of 24 hours or 14 days need the width.
    <div style={{ display: "grid", gap: 16, gridTemplateColumns: "repeat(auto-fit, minmax(440px, 1fr))" }}>
      <TitledChart
        title={`Messages sent, gated out and failed ${per}`}
        labels={labels}
        series={[
          { name: "sent", color: "#2f5d50", values: values(series, (figures) => figures.messages.delivered) },
          { name: "gated out", color: "#cf222e", values: values(series, (_, rates) => rates.gatedOut) },
          { name: "failed", color: "#8a6d3b", values: values(series, (figures) => figures.messages.failed) },
        ]}
      />
      <TitledChart
        title={`Users processed and dispatched ${per}`}
        labels={labels}
        series={[
          {
            name: "processed",
            color: "#0969da",
            values: values(series, (figures) => figures.slotsCompleted),
          },
          {
            name: "dispatched",
            color: "#8250df",
            values: values(series, (figures) => figures.scheduler.dispatched),
          },
          {
            name: "deferred",
            color: "#bf8700",
            values: values(series, (figures) => figures.scheduler.deferred),
          },
        ]}
      />
      <TitledChart
        title={`LLM latency p50 and p95 ${per} (seconds, bucket upper bound)`}
        labels={labels}
        series={[
          {
            name: "p50 s",
            color: "#3d5a4c",
            values: values(series, (_, rates) => (rates.llm.latencyP50Ms ?? 0) / 1_000),
          },
          {
            name: "p95 s",
            color: "#cf222e",
            values: values(series, (_, rates) => (rates.llm.latencyP95Ms ?? 0) / 1_000),
          },
        ]}
      />
      <TitledChart
        title={`Outbox events processed, retried and dead-lettered ${per}`}
        labels={labels}
        series={[
          {
            name: "processed",
            color: "#2f5d50",
            values: values(series, (figures) => figures.outbox.processed),
          },
          { name: "retries", color: "#bf8700", values: values(series, (_, rates) => rates.outboxRetries) },
          {
            name: "dead letters",
            color: "#cf222e",
            values: values(series, (figures) => figures.outbox.deadLettered),
          },
        ]}
      />
      <ModelCallsChart overview={overview} labels={labels} per={per} />
    </div>
  );
}

function Totals({ overview, suffix }: { overview: MetricsOverview; suffix: string }) {
  const { figures, rates } = overview.totals;
  const id = (name: string) => `metrics-${name}-${suffix}`;
  return (
    <dl className="stats">
      <Stat label="messages sent" value={figures.messages.delivered} testId={id("sent")} />
      <Stat label="generated" value={rates.generated} testId={id("generated")} />
      <Stat label="gated out" value={rates.gatedOut} testId={id("gated-out")} />
      <Stat label="gate pass rate" value={percent(rates.gatePassRate)} testId={id("gate-pass")} />
      <Stat label="generation failures" value={percent(rates.failureRate)} testId={id("failure-rate")} />
      <Stat label="LLM calls" value={rates.llm.estimatedCalls} testId={id("llm-calls")} />
      <Stat label="LLM error rate" value={percent(rates.llm.errorRate)} testId={id("llm-errors")} />
      <Stat label="LLM p50 (sampled calls)" value={seconds(rates.llm.latencyP50Ms)} testId={id("llm-p50")} />
      <Stat label="LLM p95 (sampled calls)" value={seconds(rates.llm.latencyP95Ms)} testId={id("llm-p95")} />
      <Stat label="LLM cost" value={`$${rates.llm.estimatedCostUsd.toFixed(2)}`} testId={id("llm-cost")} />
      <Stat
        label="LLM cost per hour"
        value={dollars(rates.llm.costPerHourUsd)}
        testId={id("llm-cost-per-hour")}
      />
      <Stat label="users processed" value={figures.slotsCompleted} testId={id("processed")} />
      <Stat label="scheduler runs" value={figures.scheduler.runs} testId={id("runs")} />
      <Stat label="users due" value={figures.scheduler.usersDue} testId={id("due")} />
      <Stat label="dispatched" value={figures.scheduler.dispatched} testId={id("dispatched")} />
      <Stat label="deferred" value={figures.scheduler.deferred} testId={id("deferred")} />
      <Stat label="continuations" value={figures.scheduler.continuations} testId={id("continuations")} />
      <Stat label="events processed" value={figures.outbox.processed} testId={id("outbox-processed")} />
      <Stat label="event retries" value={rates.outboxRetries} testId={id("outbox-retries")} />
      <Stat label="dead-lettered" value={figures.outbox.deadLettered} testId={id("dead-lettered")} />
    </dl>
  );
}

/**
 * The 24 hours per model: calls and cost estimated from each hour's sample (as the totals), the
 * error rate and latency percentiles of the sampled calls, and the cost per hour rolled up.
 */
function ModelTable({ rates }: { rates: DerivedRates }) {
  if (rates.llm.byModel.length === 0) return null;
  return (
    <div>
      <h3 style={{ fontSize: 14, margin: "16px 0 4px" }}>LLM calls per model, last 24 hours</h3>
      <table data-testid="metrics-models">
        <caption className="sr-only">LLM calls per model, last 24 hours</caption>
        <thead>
          <tr>
            <th scope="col">Model</th>
            <th scope="col">Calls (estimated)</th>
            <th scope="col">Calls sampled</th>
            <th scope="col">Error rate</th>
            <th scope="col">p50</th>
            <th scope="col">p95</th>
            <th scope="col">Cost (estimated)</th>
            <th scope="col">Cost per hour</th>
          </tr>
        </thead>
        <tbody>
          {rates.llm.byModel.map((model) => (
            <tr key={model.model} data-testid="metrics-model-row">
              <th scope="row">{model.model}</th>
              <td>{model.estimatedCalls}</td>
              <td>{model.calls}</td>
              <td>{percent(model.errorRate)}</td>
              <td>{seconds(model.latencyP50Ms)}</td>
              <td>{seconds(model.latencyP95Ms)}</td>
              <td>{dollars(model.estimatedCostUsd)}</td>
              <td>{dollars(model.costPerHourUsd, 4)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <p className="muted">
        The {MAX_MODELS_SHOWN} models with the most calls are named; any others are summed as “{OTHER_MODELS}
        ”. Calls and cost are each hour’s sample scaled to the hour; cost per hour is over the hours rolled
        up. An hour, and a day, stores its top {MAX_MODELS_STORED} models by name: a named model’s figures
        leave out any hour or day that ran more models and folded it into “{OTHER_MODELS}”.
      </p>
    </div>
  );
}

/** Estimated LLM calls per bucket for each of the range's models (the table's order). */
function ModelCallsChart({
  overview,
  labels,
  per,
}: {
  overview: MetricsOverview;
  labels: string[];
  per: string;
}) {
  const models = overview.totals.rates.llm.byModel.map((model) => model.model);
  if (models.length === 0) return null;
  const { series } = overview;
  return (
    <TitledChart
      title={`LLM calls ${per} by model (estimated)`}
      labels={labels}
      series={models.map((model, index) => ({
        name: model,
        color: model === OTHER_MODELS ? "#8c959f" : (MODEL_COLORS[index % MODEL_COLORS.length] ?? "#0969da"),
        values: values(
          series,
          (_, rates) => rates.llm.byModel.find((entry) => entry.model === model)?.estimatedCalls ?? 0,
        ),
      }))}
    />
  );
}

/**
 * Users from the latest rollup's snapshot. Enabled and disabled are the engine's mirror of each
 * user's flag as of its last look at them (docs/operations.md "Metrics").
 */
function UserStats({ users }: { users: UserFigures }) {
  const value = (count: number | null) => (count === null ? "—" : count);
  return (
    <dl className="stats">
      <Stat label="users" value={users.total} testId="metrics-users-total" />
      <Stat label="coaching enabled" value={value(users.enabled)} testId="metrics-users-enabled" />
      <Stat
        label="active (enabled, not suspended)"
        value={value(users.active)}
        testId="metrics-users-active"
      />
      <Stat label="enabled but suspended" value={value(users.suspended)} testId="metrics-users-suspended" />
      <Stat label="coaching off" value={value(users.disabled)} testId="metrics-users-disabled" />
      <Stat label="not looked at yet" value={value(users.notLookedAt)} testId="metrics-users-not-looked-at" />
    </dl>
  );
}

/**
 * The rollup's figures: what the operator's seeds ask for, read from at most about 75 rollup
 * documents a render, whatever the number of users.
 */
export function MetricsPanels({ hours, days }: { hours: MetricsOverview; days: MetricsOverview }) {
  const counted = hours.series.filter((entry) => entry.figures !== null).length;
  const { snapshot } = hours;
  return (
    <>
      <section className="panel" id="metrics" aria-labelledby="metrics-24h-heading">
        <h2 id="metrics-24h-heading">Last 24 hours (UTC, hourly rollup)</h2>
        <p className="muted" data-testid="metrics-coverage">
          {counted} of 24 hours rolled up. An hour is counted by the first scheduler tick at least 10 minutes
          after it ends.
          {snapshot
            ? ` Users ${snapshot.usersTotal} in all, ${snapshot.pendingEvents} events pending, ${snapshot.deadLetters} dead letters as of ${formatInstant(snapshot.at)}.`
            : ""}
        </p>
        {hours.users ? <UserStats users={hours.users} /> : null}
        {hours.users && hours.users.enabled !== null ? (
          <p className="muted" data-testid="metrics-users-note">
            Enabled, active and off as of the engine’s last look at each user, which happens only when they
            are due: a switch off shows at the user’s next due time (1, 2 or 7 days after a message by
            frequency; when a suspension ends), a switch on when the app’s event is handled (at the next tick
            for a user already due).
            {hours.users.notLookedAt
              ? " Users not looked at yet are counted once the scheduler next sees them."
              : ""}
            {snapshot && hours.users.asOf !== snapshot.at ? (
              <span data-testid="metrics-users-as-of">
                {" "}
                These users as of {formatInstant(hours.users.asOf)}: the later hours could not count them by
                the enable flag.
              </span>
            ) : null}
          </p>
        ) : null}
        <Totals overview={hours} suffix="24h" />
        <SeriesCharts overview={hours} label={hourLabel} />
        <ModelTable rates={hours.totals.rates} />
      </section>
      <section className="panel" aria-labelledby="metrics-14d-heading">
        <h2 id="metrics-14d-heading">Last 14 days (day of month, UTC; today so far)</h2>
        <Totals overview={days} suffix="14d" />
        <SeriesCharts overview={days} label={dayLabel} />
      </section>
    </>
  );
}

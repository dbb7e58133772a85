/** The dashboard's comparison of the running prompt experiment's variants (docs/generation.md). */
import type { MeanInterval, RateInterval } from "@/core/prompt-experiments";
import type { PromptExperimentOverview } from "@/services/prompt-experiments";
import { promptVariantAction } from "./actions";
import { ActionButton, CellNote, DataTable, StatusBadge } from "./ui";

function percent(value: number): string {
  return `${Math.round(value * 1_000) / 10}%`;
}

/** A rate with its 95% Wilson interval and sample size, or a dash where nothing was counted. */
function RateCell({ interval, testId }: { interval: RateInterval | null; testId: string }) {
  if (!interval) return <td data-testid={testId}>—</td>;
  return (
    <td data-testid={testId}>
      {percent(interval.rate)}
      <CellNote>
        95% CI {percent(interval.low)}–{percent(interval.high)}, n = {interval.trials}
      </CellNote>
    </td>
  );
}

function MeanCell({ interval, testId }: { interval: MeanInterval | null; testId: string }) {
  if (!interval) return <td data-testid={testId}>—</td>;
  return (
    <td data-testid={testId}>
      {interval.mean.toFixed(2)}
      <CellNote>
        {interval.low === null || interval.high === null
          ? `n = ${interval.count}`
          : `95% CI ${interval.low.toFixed(2)}–${interval.high.toFixed(2)}, n = ${interval.count}`}
      </CellNote>
    </td>
  );
}

export function ExperimentPanel({ overview }: { overview: PromptExperimentOverview | null }) {
  return (
    <section className="panel" aria-labelledby="experiment-heading" data-testid="prompt-experiment">
      <h2 id="experiment-heading">
        Prompt experiment{overview ? ` ${overview.experimentId}` : ""}, last 14 days
      </h2>
      {overview === null ? (
        <p className="muted">
          No prompt experiment runs: add variant files under prompts/variants/ (docs/generation.md).
        </p>
      ) : (
        <>
          <DataTable
            testId="prompt-variants"
            columns={[
              "Variant",
              "Share",
              "Attempts",
              "Gate pass rate",
              "Mean rating",
              "Sent",
              "Opened",
              "Clicked",
              "Helpful",
              { srOnly: "Action" },
            ]}
          >
            {overview.variants.map((row) => (
              <tr key={row.key} data-testid={`variant-${row.variant}`}>
                <td>
                  {row.variant} {row.stopped ? <StatusBadge status="stopped" /> : null}
                  <CellNote>{row.version ?? "current prompt"}</CellNote>
                </td>
                <td>{percent(row.share)}</td>
                <td>{row.attempts}</td>
                <RateCell interval={row.gatePass} testId={`gate-pass-${row.variant}`} />
                <MeanCell interval={row.meanRating} testId={`mean-rating-${row.variant}`} />
                <td>{row.sent}</td>
                <RateCell interval={row.opened} testId={`opened-${row.variant}`} />
                <RateCell interval={row.clicked} testId={`clicked-${row.variant}`} />
                <RateCell interval={row.helpful} testId={`helpful-${row.variant}`} />
                <td>
                  {row.variant === "control" ? null : (
                    <ActionButton
                      action={promptVariantAction}
                      fields={
                        row.stopped ? { variant: row.variant } : { variant: row.variant, stopped: "on" }
                      }
                      label={`${row.stopped ? "Resume" : "Stop"} prompt variant ${row.variant}`}
                    >
                      {row.stopped ? "Resume" : "Stop"}
                    </ActionButton>
                  )}
                </td>
              </tr>
            ))}
          </DataTable>
          <p className="muted">
            Rates with 95% Wilson intervals, the mean rating with a normal 95% interval; n is the sample size.
            Opened and clicked are of the emails delivered, helpful of the messages users rated. A stopped
            variant&apos;s users get the current prompt (the control) from their next run.
          </p>
        </>
      )}
    </section>
  );
}

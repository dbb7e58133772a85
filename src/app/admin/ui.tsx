/** Small server-rendered pieces shared by the admin pages: formatting, tables and SVG charts. */
import type { ReactNode } from "react";
import { isValidTimezone } from "@/core/schedule";
import { isInstant } from "@/core/user";

/**
 * An instant in the user's zone, or "—" when it is not a time a Date can hold (the app may
 * write anything); an unknown zone falls back to UTC rather than failing the page.
 */
export function formatInstant(at: unknown, timezone = "UTC"): string {
  if (!isInstant(at)) return "—";
  return new Intl.DateTimeFormat("en-GB", {
    timeZone: isValidTimezone(timezone) ? timezone : "UTC",
    dateStyle: "medium",
    timeStyle: "short",
  }).format(at);
}

export function formatRelative(at: unknown, now: number): string {
  if (!isInstant(at)) return "—";
  const minutes = Math.round((at - now) / 60_000);
  const format = new Intl.RelativeTimeFormat("en", { numeric: "auto" });
  if (Math.abs(minutes) < 60) return format.format(minutes, "minute");
  const hours = Math.round(minutes / 60);
  if (Math.abs(hours) < 48) return format.format(hours, "hour");
  return format.format(Math.round(hours / 24), "day");
}

/** The message an action redirected back with (`?notice=`), or nothing. */
export function Notice({ notice }: { notice: string | undefined }) {
  if (!notice) return null;
  return (
    <p className="warning" role="status" data-testid="notice">
      {notice}
    </p>
  );
}

export function StatusBadge({ status }: { status: string }) {
  return <span className={`badge ${status}`}>{status}</span>;
}

export function Stat({ label, value, testId }: { label: string; value: ReactNode; testId?: string }) {
  return (
    <div>
      <dt>{label}</dt>
      <dd data-testid={testId}>{value}</dd>
    </div>
  );
}

/** A column heading: its text, or `{ srOnly }` for one read to screen readers alone (a column of buttons). */
export type ColumnHeading = string | { srOnly: string };

/**
 * A table of the admin pages: column headings (none for a plain list), the rows, and `empty`
 * (a note) in place of rows when there are none.
 */
export function DataTable({
  columns,
  testId,
  empty = null,
  children,
}: {
  columns?: readonly ColumnHeading[];
  testId?: string;
  empty?: ReactNode;
  children: ReactNode;
}) {
  return (
    <>
      <table data-testid={testId}>
        {columns ? (
          <thead>
            <tr>
              {columns.map((column) =>
                typeof column === "string" ? (
                  <th scope="col" key={column}>
                    {column}
                  </th>
                ) : (
                  <th scope="col" key={column.srOnly}>
                    <span className="sr-only">{column.srOnly}</span>
                  </th>
                ),
              )}
            </tr>
          </thead>
        ) : null}
        <tbody>{children}</tbody>
      </table>
      {empty === null ? null : <p className="muted">{empty}</p>}
    </>
  );
}

/** A second, smaller line in a table cell (an id, a relative time). */
export function CellNote({ children }: { children: ReactNode }) {
  return (
    <div className="muted" style={{ fontSize: 12 }}>
      {children}
    </div>
  );
}

/** A one-button form posting `fields` (hidden) to a server action. */
export function ActionButton({
  action,
  fields,
  label,
  children,
}: {
  action: (formData: FormData) => Promise<void>;
  fields: Record<string, string | number>;
  /** The button's accessible name, when its text alone does not say what it acts on. */
  label: string;
  children: ReactNode;
}) {
  return (
    <form action={action}>
      {Object.entries(fields).map(([name, value]) => (
        <input key={name} type="hidden" name={name} value={value} />
      ))}
      <button type="submit" aria-label={label}>
        {children}
      </button>
    </form>
  );
}

/**
 * An admin chart's SVG, `width` drawing units wide whatever the page's width (so text keeps its
 * size): the top of its scale, its baseline, and the marks drawn inside.
 */
export function ChartFrame({
  title,
  width,
  height,
  top,
  baseline,
  children,
}: {
  title: string;
  width: number;
  height: number;
  top: number;
  baseline: number;
  children: ReactNode;
}) {
  return (
    <svg
      className="chart"
      role="img"
      aria-label={title}
      width="100%"
      viewBox={`0 0 ${width} ${height}`}
      preserveAspectRatio="xMinYMin meet"
    >
      <text x={0} y={10}>
        {top}
      </text>
      <line x1={30} x2={width} y1={baseline} y2={baseline} stroke="#d0d7de" />
      {children}
    </svg>
  );
}

export interface BarSeries {
  name: string;
  color: string;
  values: number[];
}

/** A grouped bar chart as plain SVG, with a text table for screen readers. */
export function BarChart({
  title,
  labels,
  series,
  height = 160,
}: {
  title: string;
  labels: string[];
  series: BarSeries[];
  height?: number;
}) {
  const max = Math.max(1, ...series.flatMap((serie) => serie.values));
  // A fixed drawing width keeps text the same size whatever the number of bars.
  const width = 560;
  const slot = (width - 40) / Math.max(1, labels.length);
  const barWidth = Math.max(4, (slot - 8) / series.length);
  const plot = height - 30;
  return (
    <figure style={{ margin: 0 }}>
      <ChartFrame title={title} width={width} height={height} top={max} baseline={plot + 4}>
        {labels.map((label, index) => (
          <g key={label} transform={`translate(${34 + index * slot}, 0)`}>
            {series.map((serie, serieIndex) => {
              const value = serie.values[index] ?? 0;
              const barHeight = (value / max) * (plot - 12);
              return (
                <rect
                  key={serie.name}
                  x={serieIndex * barWidth}
                  y={plot + 4 - barHeight}
                  width={barWidth - 1}
                  height={barHeight}
                  fill={serie.color}
                >
                  <title>{`${label} · ${serie.name}: ${value}`}</title>
                </rect>
              );
            })}
            <text x={0} y={height - 8}>
              {label}
            </text>
          </g>
        ))}
      </ChartFrame>
      <figcaption className="muted" style={{ fontSize: 13 }}>
        {series.map((serie) => (
          <span key={serie.name} style={{ marginRight: 12 }}>
            <span aria-hidden="true" style={{ color: serie.color }}>
              ■
            </span>{" "}
            {serie.name}
          </span>
        ))}
      </figcaption>
      <table className="sr-only">
        <caption>{title}</caption>
        <thead>
          <tr>
            <th scope="col">Label</th>
            {series.map((serie) => (
              <th scope="col" key={serie.name}>
                {serie.name}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {labels.map((label, index) => (
            <tr key={label}>
              <th scope="row">{label}</th>
              {series.map((serie) => (
                <td key={serie.name}>{serie.values[index] ?? 0}</td>
              ))}
            </tr>
          ))}
        </tbody>
      </table>
    </figure>
  );
}

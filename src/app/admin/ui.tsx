/** Small server-rendered pieces shared by the admin pages: formatting and SVG charts. */
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
      <svg
        className="chart"
        role="img"
        aria-label={title}
        width="100%"
        viewBox={`0 0 ${width} ${height}`}
        preserveAspectRatio="xMinYMin meet"
      >
        <text x={0} y={10}>
          {max}
        </text>
        <line x1={30} x2={width} y1={plot + 4} y2={plot + 4} stroke="#d0d7de" />
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
      </svg>
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

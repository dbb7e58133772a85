/**
 * The global LLM ceiling's use per minute over the last hour (fewer minutes above 3,000 calls a
 * minute: core/llm-ceiling.ts's MAX_USAGE_DOCUMENTS), against its limit: plain SVG and a text table.
 */
import type { CeilingMinute } from "@/pipeline/llm-limit-ports";
import { ChartFrame, Stat } from "./ui";

const minuteLabel = (minuteStart: number) => new Date(minuteStart).toISOString().slice(11, 16);

export function CeilingUsage({
  usage,
}: {
  usage: { callsPerMinute: number; minutes: CeilingMinute[] } | null;
}) {
  if (!usage) {
    return (
      <p className="muted" data-testid="ceiling-unset">
        No ceiling set (<code>LLM_CALLS_PER_MINUTE</code> is unset): LLM calls are limited by the per-user
        quotas only.
      </p>
    );
  }
  const { callsPerMinute, minutes } = usage;
  const current = minutes.at(-1);
  const peak = minutes.reduce<CeilingMinute | null>(
    (highest, minute) => (highest === null || minute.calls > highest.calls ? minute : highest),
    null,
  );
  const minutesAtLimit = minutes.filter((minute) => minute.calls >= minute.limit).length;

  // A fixed drawing width keeps text the same size whatever the number of bars.
  const width = 560;
  const height = 150;
  const plot = height - 30;
  const scale = Math.max(1, callsPerMinute, ...minutes.map((minute) => Math.max(minute.calls, minute.limit)));
  const slot = (width - 40) / Math.max(1, minutes.length);
  const y = (calls: number) => plot + 4 - (calls / scale) * (plot - 12);
  return (
    <>
      <dl className="stats">
        <Stat label="limit per minute" value={callsPerMinute} testId="ceiling-limit" />
        <Stat label="this minute" value={current?.calls ?? 0} testId="ceiling-current" />
        <Stat
          label="busiest minute"
          value={peak && peak.calls > 0 ? `${peak.calls} at ${minuteLabel(peak.minuteStart)}` : "—"}
          testId="ceiling-peak"
        />
        <Stat label="minutes at the limit" value={minutesAtLimit} testId="ceiling-full-minutes" />
      </dl>
      <figure style={{ margin: 0 }}>
        <ChartFrame
          title="LLM calls per minute against the ceiling"
          width={width}
          height={height}
          top={scale}
          baseline={plot + 4}
        >
          {minutes.map((minute, index) => (
            <g key={minute.minuteStart} transform={`translate(${34 + index * slot}, 0)`}>
              <rect
                x={0}
                y={y(minute.calls)}
                width={Math.max(1, slot - 1)}
                height={plot + 4 - y(minute.calls)}
                fill={minute.calls >= minute.limit ? "#cf222e" : "#2f5d50"}
              >
                <title>{`${minuteLabel(minute.minuteStart)} · ${minute.calls} of ${minute.limit} calls`}</title>
              </rect>
              {index % 10 === 0 ? (
                <text x={0} y={height - 8}>
                  {minuteLabel(minute.minuteStart)}
                </text>
              ) : null}
            </g>
          ))}
          <line
            x1={30}
            x2={width}
            y1={y(callsPerMinute)}
            y2={y(callsPerMinute)}
            stroke="#cf222e"
            strokeDasharray="4 3"
          >
            <title>{`limit: ${callsPerMinute} calls a minute`}</title>
          </line>
        </ChartFrame>
        <figcaption className="muted" style={{ fontSize: 13 }}>
          Last {minutes.length} minutes. Bars: calls admitted per minute (red at the limit); dashed line: the
          limit.
        </figcaption>
        <table className="sr-only" data-testid="ceiling-minutes">
          <caption>LLM calls per minute against the ceiling</caption>
          <thead>
            <tr>
              <th scope="col">Minute (UTC)</th>
              <th scope="col">Calls</th>
              <th scope="col">Limit</th>
            </tr>
          </thead>
          <tbody>
            {minutes.map((minute) => (
              <tr key={minute.minuteStart} data-testid={`ceiling-minute-${minuteLabel(minute.minuteStart)}`}>
                <th scope="row">{minuteLabel(minute.minuteStart)}</th>
                <td>{minute.calls}</td>
                <td>{minute.limit}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </figure>
    </>
  );
}

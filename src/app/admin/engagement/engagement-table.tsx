/** The engagement tables: per effectiveness rating and per message type (issue 14). */

import type { EngagementRows, EngagementTally } from "@/core/engagement";
import { sharePercent } from "@/core/engagement";
import { BarChart } from "../ui";

function Share({ part, whole }: { part: number; whole: number }) {
  const percent = sharePercent(part, whole);
  return (
    <td>
      {percent === null ? "—" : `${percent}%`} <span className="muted">({part})</span>
    </td>
  );
}

function EngagementRow({ label, counts }: { label: string; counts: EngagementTally }) {
  return (
    <tr data-testid="engagement-row">
      <th scope="row">{label}</th>
      <td>{counts.sent}</td>
      <Share part={counts.delivered} whole={counts.sent} />
      <Share part={counts.opened} whole={counts.sent} />
      <Share part={counts.clicked} whole={counts.sent} />
      <Share part={counts.helpful} whole={counts.sent} />
      <Share part={counts.helpful} whole={counts.rated} />
      <Share part={counts.pushDelivered} whole={counts.sent} />
    </tr>
  );
}

function EngagementTable({
  caption,
  rows,
}: {
  caption: string;
  rows: { label: string; counts: EngagementTally }[];
}) {
  return (
    <table>
      <caption className="sr-only">{caption}</caption>
      <thead>
        <tr>
          <th scope="col">{caption}</th>
          <th scope="col">Sent</th>
          <th scope="col">Email delivered</th>
          <th scope="col">Opened</th>
          <th scope="col">Clicked</th>
          <th scope="col">Marked helpful</th>
          <th scope="col">Helpful of rated</th>
          <th scope="col">Push delivered</th>
        </tr>
      </thead>
      <tbody>
        {rows.map((row) => (
          <EngagementRow key={row.label} {...row} />
        ))}
      </tbody>
    </table>
  );
}

/**
 * Does the quality gate's rating predict what users value? Per effectiveness rating and per
 * message type, the share of the period's sent messages that were opened, clicked and marked
 * helpful (Resend's webhooks and the users' feedback), from the rollup's engagement documents.
 */
export function EngagementPanels({ engagement, period }: { engagement: EngagementRows; period: string }) {
  // Ratings nothing was sent with (below the gate's 6) would be empty rows.
  const ratings = engagement.byRating.filter((row) => row.sent > 0 || row.rating >= 6);
  const share = (part: number, whole: number) => sharePercent(part, whole) ?? 0;
  return (
    <>
      <section className="panel" aria-labelledby="by-rating-heading">
        <h2 id="by-rating-heading">Engagement by effectiveness rating ({period})</h2>
        <BarChart
          title="Share of sent messages opened, clicked and marked helpful, by effectiveness rating (%)"
          labels={ratings.map((row) => String(row.rating))}
          series={[
            { name: "opened %", color: "#3d5a4c", values: ratings.map((row) => share(row.opened, row.sent)) },
            {
              name: "clicked %",
              color: "#8a6d3b",
              values: ratings.map((row) => share(row.clicked, row.sent)),
            },
            {
              name: "helpful %",
              color: "#4b6cb7",
              values: ratings.map((row) => share(row.helpful, row.sent)),
            },
          ]}
        />
        <div data-testid="engagement-by-rating">
          <EngagementTable
            caption="Rating"
            rows={ratings.map((row) => ({ label: String(row.rating), counts: row }))}
          />
        </div>
      </section>
      <section className="panel" aria-labelledby="by-type-heading">
        <h2 id="by-type-heading">Engagement by message type ({period})</h2>
        <div data-testid="engagement-by-type">
          <EngagementTable
            caption="Type"
            rows={engagement.byType.map((row) => ({ label: row.messageType, counts: row }))}
          />
        </div>
        <p className="muted">
          Opened and clicked come from Resend's webhooks (opens are approximate: some mail clients load images
          for privacy, some block them); marked helpful from the users' own feedback. Counted per day of
          sending and counted again while they can still move (hourly for today and yesterday, then twice a
          day for a week).
        </p>
      </section>
    </>
  );
}

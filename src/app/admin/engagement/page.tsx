import type { EngagementCounts } from "@/adapters/firestore/engagement-store";
import { getConfig } from "@/config";
import { ENGAGEMENT_PERIOD_DAYS, engagementPeriod, sharePercent } from "@/core/engagement";
import { requireAdminSession } from "@/services/admin-auth";
import { engagementOverview } from "@/services/delivery";
import { BarChart } from "../ui";

function Share({ part, whole }: { part: number; whole: number }) {
  const percent = sharePercent(part, whole);
  return (
    <td>
      {percent === null ? "—" : `${percent}%`} <span className="muted">({part})</span>
    </td>
  );
}

function EngagementRow({ label, counts }: { label: string; counts: EngagementCounts }) {
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
  rows: { label: string; counts: EngagementCounts }[];
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
 * message type, the share of the messages sent in the period that were opened, clicked and
 * marked helpful (Resend's webhooks and the users' feedback).
 */
export default async function EngagementPage({ searchParams }: { searchParams: Promise<{ days?: string }> }) {
  await requireAdminSession();
  const days = engagementPeriod((await searchParams).days);
  const figures = await engagementOverview(getConfig(), { days, now: Date.now() });
  // Ratings nothing was sent with (below the gate's 6) would be empty rows.
  const ratings = figures.byRating.filter((row) => row.sent > 0 || row.rating >= 6);
  const share = (part: number, whole: number) => sharePercent(part, whole) ?? 0;
  return (
    <>
      <h1>Engagement</h1>
      <nav aria-label="Period" style={{ display: "flex", gap: 16, marginBottom: 12 }}>
        {ENGAGEMENT_PERIOD_DAYS.map((period) => (
          <a
            key={period}
            href={`/admin/engagement?days=${period}`}
            aria-current={period === days ? "page" : undefined}
          >
            {period} days
          </a>
        ))}
      </nav>
      <section className="panel" aria-labelledby="by-rating-heading">
        <h2 id="by-rating-heading">By effectiveness rating (last {days} days)</h2>
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
        <h2 id="by-type-heading">By message type (last {days} days)</h2>
        <div data-testid="engagement-by-type">
          <EngagementTable
            caption="Type"
            rows={figures.byType.map((row) => ({ label: row.messageType, counts: row }))}
          />
        </div>
        <p className="muted">
          Opened and clicked come from Resend's webhooks (opens are approximate: some mail clients load images
          for privacy, some block them); marked helpful from the users' own feedback.
        </p>
      </section>
    </>
  );
}

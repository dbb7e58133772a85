import { getConfig } from "@/config";
import type { UserStatus } from "@/core/processing-state";
import { localDateTime } from "@/core/schedule";
import { usersTable } from "@/services/admin";
import { requireAdminSession } from "@/services/admin-auth";
import { formatInstant, formatRelative, Notice, StatusBadge } from "../ui";

const STATUSES = ["waiting", "running", "suspended", "error"] as const;
const PREFERENCES = ["morning", "afternoon", "evening"] as const;
const FREQUENCIES = ["daily", "multipleTimesPerWeek", "onceAWeek"] as const;

function pick<Value extends string>(value: string | undefined, allowed: readonly Value[]): Value | undefined {
  return allowed.find((candidate) => candidate === value);
}

/** A repeated parameter (`?q=a&q=b`) arrives as an array; the first one counts. */
function single(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

export default async function UsersPage({
  searchParams,
}: {
  searchParams: Promise<Record<string, string | string[] | undefined>>;
}) {
  await requireAdminSession();
  const params = await searchParams;
  // Any text may be searched: it is matched as an email prefix, and looked up as a uid only
  // when Firestore accepts it as a document id.
  const query = single(params.q)?.trim().slice(0, 200) || undefined;
  const status = pick<UserStatus>(single(params.status), STATUSES);
  const timePreference = pick(single(params.preference), PREFERENCES);
  const frequency = pick(single(params.frequency), FREQUENCIES);
  const notice = single(params.notice);
  const now = Date.now();
  const { rows, nextCursor } = await usersTable(getConfig(), {
    query,
    after: single(params.after)?.slice(0, 600),
    status,
    timePreference,
    frequency,
  });
  const nextHref = (() => {
    if (!nextCursor) return null;
    const next = new URLSearchParams();
    for (const [key, value] of Object.entries({ q: query, status, preference: timePreference, frequency })) {
      if (value) next.set(key, value);
    }
    next.set("after", nextCursor);
    return `/admin/users?${next.toString()}`;
  })();
  return (
    <>
      <h1>Users</h1>
      <Notice notice={notice} />
      <search>
        <form className="panel inline" method="get">
          <label htmlFor="q">Email or user id</label>
          <input id="q" name="q" defaultValue={query ?? ""} placeholder="ada@ or uid" />
          <label htmlFor="status">Status</label>
          <select id="status" name="status" defaultValue={status ?? ""}>
            <option value="">any</option>
            {STATUSES.map((value) => (
              <option key={value}>{value}</option>
            ))}
          </select>
          <label htmlFor="preference">Preference</label>
          <select id="preference" name="preference" defaultValue={timePreference ?? ""}>
            <option value="">any</option>
            {PREFERENCES.map((value) => (
              <option key={value}>{value}</option>
            ))}
          </select>
          <label htmlFor="frequency">Frequency</label>
          <select id="frequency" name="frequency" defaultValue={frequency ?? ""}>
            <option value="">any</option>
            {FREQUENCIES.map((value) => (
              <option key={value}>{value}</option>
            ))}
          </select>
          <button type="submit">Filter</button>
        </form>
      </search>
      <div className="panel">
        <table data-testid="users-table">
          <thead>
            <tr>
              <th scope="col">Email</th>
              <th scope="col">Time zone (local time)</th>
              <th scope="col">Preference</th>
              <th scope="col">Frequency</th>
              <th scope="col">Status</th>
              <th scope="col">Next due (local)</th>
              <th scope="col">Last message</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((row) => (
              <tr key={row.uid}>
                <td>
                  <a href={`/admin/users/${encodeURIComponent(row.uid)}`}>{row.email || row.uid}</a>
                  <div className="muted" style={{ fontSize: 12 }}>
                    {row.uid}
                    {row.enabled ? "" : " · coaching off"}
                  </div>
                </td>
                <td>
                  {row.timezone ?? "—"}
                  {row.timezone ? (
                    <div className="muted" style={{ fontSize: 12 }}>
                      {localDateTime({ at: now, timezone: row.timezone }).replace("T", " ")}
                    </div>
                  ) : null}
                </td>
                <td>{row.timePreference ?? "—"}</td>
                <td>{row.frequency ?? "—"}</td>
                <td>
                  <StatusBadge status={row.status} />
                </td>
                <td>
                  {formatInstant(row.nextCoachingMessageDue, row.timezone ?? "UTC")}
                  <div className="muted" style={{ fontSize: 12 }}>
                    {formatRelative(row.nextCoachingMessageDue, now)}
                  </div>
                </td>
                <td>
                  {row.lastMessageType ?? "—"}
                  {row.lastRating !== null ? <span className="muted"> · rated {row.lastRating}</span> : null}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
        {rows.length === 0 ? <p className="muted">No users match.</p> : null}
        {nextHref ? (
          <p>
            <a href={nextHref}>Next page →</a>
          </p>
        ) : null}
      </div>
    </>
  );
}

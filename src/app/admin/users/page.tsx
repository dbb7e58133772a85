import { getConfig } from "@/config";
import type { UserStatus } from "@/core/processing-state";
import { localDateTime } from "@/core/schedule";
import { usersTable } from "@/services/admin";
import { requireAdminSession } from "@/services/admin-auth";
import { CellNote, DataTable, formatInstant, formatRelative, Notice, StatusBadge } from "../ui";

const STATUSES = ["waiting", "running", "suspended", "error"] as const;
const PREFERENCES = ["morning", "afternoon", "evening"] as const;
const FREQUENCIES = ["daily", "multipleTimesPerWeek", "onceAWeek"] as const;

function pick<Value extends string>(value: string | undefined, allowed: readonly Value[]): Value | undefined {
  return allowed.find((candidate) => candidate === value);
}

/** A filter of the table: a choice of `values`, or any. */
function FilterSelect({
  id,
  label,
  values,
  selected,
}: {
  id: string;
  label: string;
  values: readonly string[];
  selected: string | undefined;
}) {
  return (
    <>
      <label htmlFor={id}>{label}</label>
      <select id={id} name={id} defaultValue={selected ?? ""}>
        <option value="">any</option>
        {values.map((value) => (
          <option key={value}>{value}</option>
        ))}
      </select>
    </>
  );
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
          <FilterSelect id="status" label="Status" values={STATUSES} selected={status} />
          <FilterSelect id="preference" label="Preference" values={PREFERENCES} selected={timePreference} />
          <FilterSelect id="frequency" label="Frequency" values={FREQUENCIES} selected={frequency} />
          <button type="submit">Filter</button>
        </form>
      </search>
      <div className="panel">
        <DataTable
          testId="users-table"
          columns={[
            "Email",
            "Time zone (local time)",
            "Preference",
            "Frequency",
            "Status",
            "Next due (local)",
            "Last message",
          ]}
          empty={rows.length === 0 ? "No users match." : null}
        >
          {rows.map((row) => (
            <tr key={row.uid}>
              <td>
                <a href={`/admin/users/${encodeURIComponent(row.uid)}`}>{row.email || row.uid}</a>
                <CellNote>
                  {row.uid}
                  {row.enabled ? "" : " · coaching off"}
                </CellNote>
              </td>
              <td>
                {row.timezone ?? "—"}
                {row.timezone ? (
                  <CellNote>{localDateTime({ at: now, timezone: row.timezone }).replace("T", " ")}</CellNote>
                ) : null}
              </td>
              <td>{row.timePreference ?? "—"}</td>
              <td>{row.frequency ?? "—"}</td>
              <td>
                <StatusBadge status={row.status} />
              </td>
              <td>
                {formatInstant(row.nextCoachingMessageDue, row.timezone ?? "UTC")}
                <CellNote>{formatRelative(row.nextCoachingMessageDue, now)}</CellNote>
              </td>
              <td>
                {row.lastMessageType ?? "—"}
                {row.lastRating !== null ? <span className="muted"> · rated {row.lastRating}</span> : null}
              </td>
            </tr>
          ))}
        </DataTable>
        {nextHref ? (
          <p>
            <a href={nextHref}>Next page →</a>
          </p>
        ) : null}
      </div>
    </>
  );
}

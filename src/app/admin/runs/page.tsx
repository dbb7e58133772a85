import { getConfig } from "@/config";
import { listRuns } from "@/services/admin";
import { requireAdminSession } from "@/services/admin-auth";
import { CellNote, DataTable, formatInstant, formatRelative, StatusBadge } from "../ui";

export default async function RunsPage({ searchParams }: { searchParams: Promise<{ before?: string }> }) {
  await requireAdminSession();
  const before = Number((await searchParams).before);
  const now = Date.now();
  const { runs, nextCursor } = await listRuns(getConfig(), {
    before: Number.isFinite(before) && before > 0 ? before : undefined,
    limit: 20,
  });
  return (
    <>
      <h1>Scheduler runs</h1>
      <div className="panel">
        <DataTable
          columns={["Started", "Trigger", "Status", "Duration", "Counts"]}
          empty={runs.length === 0 ? "No runs yet." : null}
        >
          {runs.map((run) => (
            <tr key={run.runId}>
              <td>
                {formatInstant(run.startedAt)}
                <CellNote>{formatRelative(run.startedAt, now)}</CellNote>
              </td>
              <td>{run.trigger}</td>
              <td>
                <StatusBadge status={run.status} />
                {run.failureReason ? <div className="error-text">{run.failureReason}</div> : null}
                {run.traceId ? (
                  <CellNote>
                    trace <code data-testid="run-trace-id">{run.traceId}</code>
                  </CellNote>
                ) : null}
              </td>
              <td>{run.durationMs === null ? "—" : `${run.durationMs} ms`}</td>
              <td>
                <details>
                  <summary>
                    {run.results?.usersDue ?? 0} due · {run.results?.jobsCreated ?? 0} dispatched ·{" "}
                    {run.results?.errors ?? 0} errors
                  </summary>
                  <pre>{JSON.stringify(run.results, null, 2)}</pre>
                  <pre>{JSON.stringify(run.userResults ?? {}, null, 2)}</pre>
                </details>
              </td>
            </tr>
          ))}
        </DataTable>
        {nextCursor ? (
          <p>
            <a href={`/admin/runs?before=${nextCursor}`}>Older runs →</a>
          </p>
        ) : null}
      </div>
    </>
  );
}

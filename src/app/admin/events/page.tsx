import type { ReactNode } from "react";
import { getConfig } from "@/config";
import { deadLetterGroupKey } from "@/core/dead-letter-groups";
import type { EventRecord } from "@/core/events";
import { eventsOverview } from "@/services/admin";
import { requireAdminSession } from "@/services/admin-auth";
import { deadLetterGroupsOverview } from "@/services/dead-letter-groups";
import { MAX_BULK_REQUEUE, retriableDeadLetterCount } from "@/services/events";
import { replayAction, requeueDeadLettersAction } from "../actions";
import { ActionButton, CellNote, DataTable, formatInstant, Notice } from "../ui";
import { replayDeadLetterGroupAction } from "./actions";

/** A panel listing outbox events: each one's type and id, then the cells `describe` gives it. */
function OutboxEventList({
  id,
  title,
  events,
  describe,
}: {
  id: string;
  title: string;
  events: readonly EventRecord[];
  describe: (event: EventRecord) => ReactNode;
}) {
  return (
    <section className="panel" aria-labelledby={`${id}-heading`}>
      <h2 id={`${id}-heading`}>{title}</h2>
      <DataTable>
        {events.map((event) => (
          <tr key={event.id}>
            <td>{event.event_type}</td>
            <td className="muted">{event.id}</td>
            {describe(event)}
          </tr>
        ))}
      </DataTable>
    </section>
  );
}

export default async function EventsPage({ searchParams }: { searchParams: Promise<{ notice?: string }> }) {
  await requireAdminSession();
  const { notice } = await searchParams;
  const config = getConfig();
  // Reads: 50 pending, 50 dead letters, up to 500 dead letters' summaries for the groups and
  // three count aggregations, whatever the size of the outbox.
  const [{ pending, failing, deadLetters }, retriable, grouped] = await Promise.all([
    eventsOverview(config),
    retriableDeadLetterCount(config),
    deadLetterGroupsOverview(config),
  ]);
  const requeueCount = Math.min(retriable, MAX_BULK_REQUEUE);
  return (
    <>
      <h1>Events</h1>
      <Notice notice={notice} />
      <section className="panel" aria-labelledby="groups-heading">
        <h2 id="groups-heading">
          Dead letters by error ({grouped.groups.length} {grouped.groups.length === 1 ? "group" : "groups"})
        </h2>
        {grouped.total > grouped.lettersRead ? (
          <p className="muted" data-testid="groups-window">
            Grouped over the newest {grouped.lettersRead} of {grouped.total} dead letters; older ones show up
            here as newer groups are replayed.
          </p>
        ) : null}
        <DataTable
          testId="dead-letter-groups"
          columns={[
            "Event type",
            "Error (ids, numbers and quoted values taken out)",
            "Count",
            "First seen",
            "Last seen",
            { srOnly: "Replay the group" },
          ]}
          empty={grouped.groups.length === 0 ? "None." : null}
        >
          {grouped.groups.map((group) => (
            <tr key={deadLetterGroupKey(group)} data-testid="dead-letter-group">
              <td>{group.eventType}</td>
              <td className="error-text">
                {group.errorSignature}
                <CellNote>latest: {group.exampleError}</CellNote>
              </td>
              <td data-testid="group-count">{group.count}</td>
              <td>{formatInstant(group.firstSeenAt)}</td>
              <td>{formatInstant(group.lastSeenAt)}</td>
              <td>
                <ActionButton
                  action={replayDeadLetterGroupAction}
                  fields={{
                    eventType: group.eventType,
                    errorSignature: group.errorSignature,
                    expectedCount: group.count,
                  }}
                  label={`Replay the ${group.count} ${group.eventType} dead letters of this error`}
                >
                  Replay {group.count}
                </ActionButton>
              </td>
            </tr>
          ))}
        </DataTable>
      </section>
      <section className="panel" aria-labelledby="dead-heading">
        <h2 id="dead-heading">Dead letters ({deadLetters.length})</h2>
        {requeueCount > 0 ? (
          <form action={requeueDeadLettersAction} data-testid="requeue-dead-letters">
            <p>
              {retriable} dead letters failed for a passing reason (an outage outlasting the retry window,
              runs that never finished). Requeue {requeueCount} of them, each with a fresh retry window?
            </p>
            <input type="hidden" name="expected" value={requeueCount} />
            <label>
              Type {requeueCount} to confirm{" "}
              <input name="confirm" inputMode="numeric" autoComplete="off" required />
            </label>{" "}
            <button type="submit">Requeue retriable dead letters</button>
          </form>
        ) : null}
        <DataTable
          testId="dead-letters"
          columns={["Event", "Error", "Retries", "Dead since", { srOnly: "Replay" }]}
          empty={deadLetters.length === 0 ? "None." : null}
        >
          {deadLetters.map((letter) => (
            <tr key={letter.event_id} data-testid="dead-letter">
              <td>
                {letter.event_type}
                <CellNote>{letter.event_id}</CellNote>
              </td>
              <td className="error-text">{letter.error_message}</td>
              <td>{letter.retry_count}</td>
              <td>{formatInstant(letter.created_at)}</td>
              <td>
                <ActionButton
                  action={replayAction}
                  fields={{ eventId: letter.event_id }}
                  label={`Replay ${letter.event_id}`}
                >
                  Replay
                </ActionButton>
              </td>
            </tr>
          ))}
        </DataTable>
      </section>
      <OutboxEventList
        id="failing"
        title={`Retrying (${failing.length})`}
        events={failing}
        describe={(event) => (
          <>
            <td>attempt {event.attempts}</td>
            <td className="error-text">{event.last_error}</td>
            <td>next {formatInstant(event.next_attempt_at)}</td>
          </>
        )}
      />
      <OutboxEventList
        id="pending"
        title={`Pending (${pending.length})`}
        events={pending}
        describe={(event) => <td>created {formatInstant(event.created_at)}</td>}
      />
    </>
  );
}

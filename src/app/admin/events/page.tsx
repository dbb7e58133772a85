import { getConfig } from "@/config";
import { deadLetterGroupKey } from "@/core/dead-letter-groups";
import { eventsOverview } from "@/services/admin";
import { requireAdminSession } from "@/services/admin-auth";
import { deadLetterGroupsOverview } from "@/services/dead-letter-groups";
import { MAX_BULK_REQUEUE, retriableDeadLetterCount } from "@/services/events";
import { replayAction, requeueDeadLettersAction } from "../actions";
import { formatInstant, Notice } from "../ui";
import { replayDeadLetterGroupAction } from "./actions";

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
        <table data-testid="dead-letter-groups">
          <thead>
            <tr>
              <th scope="col">Event type</th>
              <th scope="col">Error (ids, numbers and quoted values taken out)</th>
              <th scope="col">Count</th>
              <th scope="col">First seen</th>
              <th scope="col">Last seen</th>
              <th scope="col">
                <span className="sr-only">Replay the group</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {grouped.groups.map((group) => (
              <tr key={deadLetterGroupKey(group)} data-testid="dead-letter-group">
                <td>{group.eventType}</td>
                <td className="error-text">
                  {group.errorSignature}
                  <div className="muted" style={{ fontSize: 12 }}>
                    latest: {group.exampleError}
                  </div>
                </td>
                <td data-testid="group-count">{group.count}</td>
                <td>{formatInstant(group.firstSeenAt)}</td>
                <td>{formatInstant(group.lastSeenAt)}</td>
                <td>
                  <form action={replayDeadLetterGroupAction}>
                    <input type="hidden" name="eventType" value={group.eventType} />
                    <input type="hidden" name="errorSignature" value={group.errorSignature} />
                    <input type="hidden" name="expectedCount" value={group.count} />
                    <button
                      type="submit"
                      aria-label={`Replay the ${group.count} ${group.eventType} dead letters of this error`}
                    >
                      Replay {group.count}
                    </button>
                  </form>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
        {grouped.groups.length === 0 ? <p className="muted">None.</p> : null}
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
        <table data-testid="dead-letters">
          <thead>
            <tr>
              <th scope="col">Event</th>
              <th scope="col">Error</th>
              <th scope="col">Retries</th>
              <th scope="col">Dead since</th>
              <th scope="col">
                <span className="sr-only">Replay</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {deadLetters.map((letter) => (
              <tr key={letter.event_id} data-testid="dead-letter">
                <td>
                  {letter.event_type}
                  <div className="muted" style={{ fontSize: 12 }}>
                    {letter.event_id}
                  </div>
                </td>
                <td className="error-text">{letter.error_message}</td>
                <td>{letter.retry_count}</td>
                <td>{formatInstant(letter.created_at)}</td>
                <td>
                  <form action={replayAction}>
                    <input type="hidden" name="eventId" value={letter.event_id} />
                    <button type="submit" aria-label={`Replay ${letter.event_id}`}>
                      Replay
                    </button>
                  </form>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
        {deadLetters.length === 0 ? <p className="muted">None.</p> : null}
      </section>
      <section className="panel" aria-labelledby="failing-heading">
        <h2 id="failing-heading">Retrying ({failing.length})</h2>
        <table>
          <tbody>
            {failing.map((event) => (
              <tr key={event.id}>
                <td>{event.event_type}</td>
                <td className="muted">{event.id}</td>
                <td>attempt {event.attempts}</td>
                <td className="error-text">{event.last_error}</td>
                <td>next {formatInstant(event.next_attempt_at)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </section>
      <section className="panel" aria-labelledby="pending-heading">
        <h2 id="pending-heading">Pending ({pending.length})</h2>
        <table>
          <tbody>
            {pending.map((event) => (
              <tr key={event.id}>
                <td>{event.event_type}</td>
                <td className="muted">{event.id}</td>
                <td>created {formatInstant(event.created_at)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </section>
    </>
  );
}

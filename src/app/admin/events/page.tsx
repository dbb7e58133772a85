import { getConfig } from "@/config";
import { eventsOverview } from "@/services/admin";
import { requireAdminSession } from "@/services/admin-auth";
import { MAX_BULK_REQUEUE, retriableDeadLetterCount } from "@/services/events";
import { replayAction, requeueDeadLettersAction } from "../actions";
import { formatInstant } from "../ui";

export default async function EventsPage({ searchParams }: { searchParams: Promise<{ notice?: string }> }) {
  await requireAdminSession();
  const { notice } = await searchParams;
  const config = getConfig();
  const [{ pending, failing, deadLetters }, retriable] = await Promise.all([
    eventsOverview(config),
    retriableDeadLetterCount(config),
  ]);
  const requeueCount = Math.min(retriable, MAX_BULK_REQUEUE);
  return (
    <>
      <h1>Events</h1>
      {notice ? (
        <p className="warning" role="status" data-testid="notice">
          {notice}
        </p>
      ) : null}
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

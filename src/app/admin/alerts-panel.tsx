/**
 * The operator's alerts (core/alerts.ts): open ones first, then the history, each with when it
 * fired and resolved and the figures it fired on.
 */
import type { AlertRecord } from "@/core/alert-lifecycle";
import { ALERT_TITLES } from "@/core/alert-text";
import { CellNote, DataTable, formatInstant, formatRelative, StatusBadge } from "./ui";

export function AlertsPanel({
  alerts,
  posting,
  now,
}: {
  alerts: AlertRecord[];
  posting: boolean;
  now: number;
}) {
  const open = alerts.filter((alert) => alert.status === "open").length;
  return (
    <section className="panel" id="alerts" aria-labelledby="alerts-heading">
      <h2 id="alerts-heading">Alerts</h2>
      <p className="muted" data-testid="alerts-summary">
        {open === 0 ? "No open alert." : `${open} open.`} Evaluated after every scheduler tick and outbox run;{" "}
        {posting
          ? "fired and resolved alerts are posted to ALERT_WEBHOOK_URL."
          : "not posted anywhere (ALERT_WEBHOOK_URL is unset)."}
      </p>
      <DataTable
        columns={["Alert", "Status", "Fired", "Resolved", "Figures"]}
        testId="alerts"
        empty={alerts.length === 0 ? "No alert has fired yet." : null}
      >
        {alerts.map((alert) => (
          <tr key={alert.id} data-testid="alert-row" data-status={alert.status}>
            <th scope="row">
              {ALERT_TITLES[alert.condition]}
              <CellNote>{alert.id}</CellNote>
            </th>
            <td>
              <StatusBadge status={alert.status} />
            </td>
            <td>
              {formatInstant(alert.firedAt)}
              <CellNote>{formatRelative(alert.firedAt, now)}</CellNote>
            </td>
            <td>
              {alert.resolvedAt === null ? "—" : formatInstant(alert.resolvedAt)}
              {alert.reopenedAt === null ? null : (
                <CellNote>reopened {formatRelative(alert.reopenedAt, now)}</CellNote>
              )}
            </td>
            <td>{alert.summary}</td>
          </tr>
        ))}
      </DataTable>
    </section>
  );
}

import { getConfig } from "@/config";
import { requireAdminSession } from "@/services/admin-auth";
import { findEmailSuppression, suppressionsOverview } from "@/services/delivery";
import { ActionButton, DataTable, formatInstant, Notice } from "../ui";
import { liftSuppressionAction } from "./actions";

/** An email address is at most 254 characters (RFC 5321); a longer query names nothing. */
const MAX_ADDRESS_LENGTH = 320;

/**
 * Addresses the outbox does not email (a hard bounce or a complaint reported by Resend): the
 * latest, or the one address searched for, however old (one read by its id).
 */
export default async function SuppressionsPage({
  searchParams,
}: {
  searchParams: Promise<{ notice?: string; address?: string | string[] }>;
}) {
  await requireAdminSession();
  const { notice, address: addressParam } = await searchParams;
  const address = (typeof addressParam === "string" ? addressParam : "").trim().slice(0, MAX_ADDRESS_LENGTH);
  const config = getConfig();
  const found = address ? await findEmailSuppression(config, address) : null;
  const suppressions = address ? (found ? [found] : []) : await suppressionsOverview(config);
  return (
    <>
      <h1>Email suppressions</h1>
      <Notice notice={notice} />
      <search>
        <form className="panel inline" method="get">
          <label htmlFor="address">Address</label>
          <input
            id="address"
            name="address"
            type="search"
            defaultValue={address}
            placeholder="ada@example.com"
          />
          <button type="submit">Find</button>
        </form>
      </search>
      <section className="panel" aria-labelledby="suppressions-heading">
        <h2 id="suppressions-heading">
          {address ? "Suppression of the address" : `Latest suppressed addresses (${suppressions.length})`}
        </h2>
        <p className="muted">
          Resend reported a permanent bounce or a spam complaint for these addresses; no coaching email goes
          to them. Lift one when the address works again (a complaint also turned the user's email off: they
          turn it back on in the journal).
          {config.resendWebhook ? null : " The Resend webhook is not enabled (RESEND_WEBHOOK_SECRET)."}
        </p>
        <DataTable
          testId="suppressions"
          columns={["Address", "Reason", "Since", "User", { srOnly: "Lift" }]}
          empty={
            suppressions.length === 0
              ? address
                ? `${address} is not on the suppression list.`
                : "None."
              : null
          }
        >
          {suppressions.map((suppression) => (
            <tr key={suppression.id} data-testid="suppression">
              <td>{suppression.address}</td>
              <td>
                {suppression.reason}
                {suppression.detail ? <div className="muted">{suppression.detail}</div> : null}
              </td>
              <td>{formatInstant(suppression.suppressedAt)}</td>
              <td>
                {suppression.uid ? (
                  <a href={`/admin/users/${encodeURIComponent(suppression.uid)}`}>{suppression.uid}</a>
                ) : (
                  "—"
                )}
              </td>
              <td>
                <ActionButton
                  action={liftSuppressionAction}
                  fields={{ suppressionId: suppression.id }}
                  label={`Lift the suppression of ${suppression.address}`}
                >
                  Lift
                </ActionButton>
              </td>
            </tr>
          ))}
        </DataTable>
      </section>
    </>
  );
}

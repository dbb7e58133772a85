/**
 * A scripted hour of attempts of a prompt experiment (`tone-test`: the control and `warmer`) for
 * the per-variant metrics' tests (adapter and route); its figures are known exactly. In the hour:
 * - control: 4 sent (ratings 7, 8, 8, 9; emails delivered, 2 opened, 1 clicked; 1 rated helpful,
 *   1 not), 1 rejected (rating 4), 1 failed (no rating);
 * - warmer: 3 sent (ratings 8, 9, 9; delivered, all 3 opened, 2 clicked, 2 helpful of 2 rated), 1
 *   approved (rating 7);
 * - one attempt of an earlier experiment and one without a variant, counted for neither.
 */
import type { Firestore } from "firebase-admin/firestore";
import { putDocuments } from "./firestore";

const MINUTE = 60_000;
export const EXPERIMENT_ID = "tone-test";

export async function seedExperimentScript(
  db: Firestore,
  { hourStart }: { hourStart: number },
): Promise<void> {
  const at = (minutes: number) => hourStart + minutes * MINUTE;
  let next = 0;
  const message = (
    variant: string | null,
    fields: Record<string, unknown>,
  ): [string, Record<string, unknown>] => {
    next += 1;
    return [
      `x${next}`,
      {
        uid: `xu-${next}`,
        status: "sent",
        wasSent: true,
        createdAt: at(next),
        sentAt: at(next),
        messageType: "check_in",
        emailDelivered: true,
        promptVariant: variant,
        llmCalls: [],
        ...fields,
      },
    ];
  };
  const control = `${EXPERIMENT_ID}/control`;
  const warmer = `${EXPERIMENT_ID}/warmer`;
  const notSent = { wasSent: false, sentAt: null, emailDelivered: null };
  await putDocuments(db, "coachingMessages", [
    message(control, {
      effectivenessRating: 7,
      emailOpened: true,
      emailClicked: true,
      feedbackHelpful: true,
    }),
    message(control, { effectivenessRating: 8, emailOpened: true, feedbackHelpful: false }),
    message(control, { effectivenessRating: 8 }),
    message(control, { effectivenessRating: 9 }),
    message(control, { status: "rejected", effectivenessRating: 4, ...notSent }),
    message(control, { status: "failed", effectivenessRating: null, ...notSent }),
    message(warmer, { effectivenessRating: 8, emailOpened: true, emailClicked: true, feedbackHelpful: true }),
    message(warmer, { effectivenessRating: 9, emailOpened: true, emailClicked: true, feedbackHelpful: true }),
    message(warmer, { effectivenessRating: 9, emailOpened: true }),
    message(warmer, { status: "approved", effectivenessRating: 7, ...notSent }),
    message("tone-earlier/warmer", { effectivenessRating: 2 }),
    message(null, { effectivenessRating: 10 }),
  ]);
}

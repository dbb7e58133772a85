import "server-only";
import {
  Body,
  Container,
  Head,
  Heading,
  Hr,
  Html,
  Link,
  Preview,
  Section,
  Text,
} from "@react-email/components";
import { render } from "@react-email/render";
import { toSingleLine } from "@/core/message-text";
import type { CoachingEmailContent, RenderedEmail } from "@/pipeline/processor-ports";

const styles = {
  body: {
    backgroundColor: "#f6f5f2",
    fontFamily: "Georgia, 'Times New Roman', serif",
    margin: 0,
    padding: "24px 0",
  },
  container: {
    backgroundColor: "#ffffff",
    borderRadius: 8,
    margin: "0 auto",
    maxWidth: 560,
    padding: "32px 28px",
  },
  heading: { color: "#2d2a26", fontSize: 20, fontWeight: 600, margin: "0 0 16px" },
  text: { color: "#2d2a26", fontSize: 16, lineHeight: "26px", margin: "0 0 14px" },
  button: {
    backgroundColor: "#3d5a4c",
    borderRadius: 6,
    color: "#ffffff",
    display: "inline-block",
    fontSize: 15,
    padding: "10px 18px",
    textDecoration: "none",
  },
  footer: { color: "#77716a", fontSize: 12, lineHeight: "18px", margin: "0" },
} as const;

/**
 * The coaching email. React escapes every text node, so model output can never become markup;
 * the only links are the engine's own (journal entry, preferences, the one-click unsubscribe page).
 */
export function CoachingEmail({
  displayName,
  messageContent,
  pushNotificationText,
  journalEntryUrl,
  preferencesUrl,
  unsubscribeUrl,
}: CoachingEmailContent) {
  const paragraphs = messageContent.split(/\n{2,}/).filter((paragraph) => paragraph.trim() !== "");
  return (
    <Html lang="en">
      <Head />
      {pushNotificationText ? <Preview>{pushNotificationText}</Preview> : null}
      <Body style={styles.body}>
        <Container style={styles.container}>
          <Heading as="h1" style={styles.heading}>
            {displayName ? `Hi ${displayName},` : "Hi,"}
          </Heading>
          {paragraphs.map((paragraph, index) => (
            // Paragraphs have no identity beyond their position.
            // biome-ignore lint/suspicious/noArrayIndexKey: static list rendered once.
            <Text key={index} style={styles.text}>
              {paragraph}
            </Text>
          ))}
          {journalEntryUrl ? (
            <Section style={{ margin: "24px 0" }}>
              <Link href={journalEntryUrl} style={styles.button}>
                Open it in your journal
              </Link>
            </Section>
          ) : null}
          <Hr />
          <Text style={styles.footer}>
            You get these messages because coaching is on in your journal.{" "}
            <Link href={preferencesUrl}>Change email preferences</Link>
            {unsubscribeUrl ? (
              <>
                {" "}
                or <Link href={unsubscribeUrl}>unsubscribe from these emails</Link>
              </>
            ) : null}
            .
          </Text>
        </Container>
      </Body>
    </Html>
  );
}

export async function renderCoachingEmail(content: CoachingEmailContent): Promise<RenderedEmail> {
  const email = <CoachingEmail {...content} />;
  const [html, text] = await Promise.all([render(email), render(email, { plainText: true })]);
  return {
    // Model-derived, so a single line: no CR/LF can reach the header.
    subject: toSingleLine(content.pushNotificationText ?? "A note from your journaling coach", 100),
    html,
    text,
  };
}

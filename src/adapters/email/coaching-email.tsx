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
import { emailLanguageFor, emailStrings, formatEmailDateTime } from "@/core/email-strings";
import { toSingleLine } from "@/core/message-text";
import type { CoachingEmailContent, RenderedEmail } from "@/pipeline/channel-ports";

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
  date: { color: "#77716a", fontSize: 13, lineHeight: "20px", margin: "-8px 0 16px" },
  footer: { color: "#77716a", fontSize: 12, lineHeight: "18px", margin: "0" },
} as const;

/**
 * The coaching email. React escapes every text node, so model output can never become markup;
 * the only links are the engine's own (journal entry, preferences, the one-click unsubscribe page).
 * Its own words come from `src/core/email-strings.ts` in `language` (English when absent or not in
 * the catalogue); the message is in whatever language the model wrote it.
 */
export function CoachingEmail({
  displayName,
  messageContent,
  pushNotificationText,
  journalEntryUrl,
  preferencesUrl,
  unsubscribeUrl,
  language,
  writtenAt,
  timeZone,
}: CoachingEmailContent) {
  const strings = emailStrings(language);
  const paragraphs = messageContent.split(/\n{2,}/).filter((paragraph) => paragraph.trim() !== "");
  return (
    <Html lang={emailLanguageFor(language)}>
      <Head />
      {pushNotificationText ? <Preview>{pushNotificationText}</Preview> : null}
      <Body style={styles.body}>
        <Container style={styles.container}>
          <Heading as="h1" style={styles.heading}>
            {strings.greeting(displayName)}
          </Heading>
          {writtenAt != null && timeZone ? (
            <Text style={styles.date}>{formatEmailDateTime({ at: writtenAt, language, timeZone })}</Text>
          ) : null}
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
                {strings.openInJournal}
              </Link>
            </Section>
          ) : null}
          <Hr />
          <Text style={styles.footer}>
            {strings.footerReason} <Link href={preferencesUrl}>{strings.changePreferences}</Link>
            {unsubscribeUrl ? (
              <>
                {" "}
                {strings.or} <Link href={unsubscribeUrl}>{strings.unsubscribe}</Link>
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
    subject: toSingleLine(content.pushNotificationText ?? emailStrings(content.language).defaultSubject, 100),
    html,
    text,
  };
}

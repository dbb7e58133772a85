/**
 * Model output becomes journal text, email HTML, an email subject and a push notification.
 * These functions make it safe for each: no links or images (a prompt-injected journal must
 * not be able to plant a phishing link), no markup, no control characters, and never a line
 * break where a header is built.
 */

const MARKDOWN_IMAGE = /!\[[^\]]*\]\([^)]*\)/g;
const MARKDOWN_LINK = /\[([^\]]*)\]\([^)]*\)/g;
const HTML_TAG = /<\/?[a-z][^>]*>/gi;
const URL_LIKE = /\b(?:(?:https?|ftp|mailto|javascript|data):\S+|www\.\S+)/gi;
// C0 controls except tab and newline, DEL, C1 controls, and bidi overrides that can disguise text.
// biome-ignore lint/suspicious/noControlCharactersInRegex: stripping control characters is the point.
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g;

/** Strips images, links (keeping their text), bare URLs, HTML tags and control characters. */
export function sanitiseModelText(text: string): string {
  return text
    .replace(/\r\n?/g, "\n")
    .replace(CONTROL, "")
    .replace(MARKDOWN_IMAGE, "")
    .replace(MARKDOWN_LINK, "$1")
    .replace(HTML_TAG, "")
    .replace(URL_LIKE, "")
    .replace(/[ \t]+\n/g, "\n")
    .replace(/\n{3,}/g, "\n\n")
    .replace(/[ \t]{2,}/g, " ")
    .trim();
}

/** One line, safe for an email header or a push notification, cut at `maxLength` on a word. */
export function toSingleLine(text: string, maxLength: number): string {
  const line = sanitiseModelText(text).replace(/\s+/g, " ").trim();
  if (line.length <= maxLength) return line;
  const cut = line.slice(0, maxLength - 1);
  const lastSpace = cut.lastIndexOf(" ");
  return `${(lastSpace > maxLength / 2 ? cut.slice(0, lastSpace) : cut).trimEnd()}…`;
}

const HTML_ESCAPES: Readonly<Record<string, string>> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&#39;",
};

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (character) => HTML_ESCAPES[character] ?? character);
}

/**
 * Model output becomes journal text, email HTML, an email subject and a push notification.
 * These functions make it safe for each: no links or images (a prompt-injected journal must
 * not be able to plant a phishing link), no markup, no control characters, and never a line
 * break where a header is built.
 */

const MARKDOWN_IMAGE = /!\[[^\]]*\]\([^)]*\)/g;
const MARKDOWN_LINK = /\[([^\]]*)\]\([^)]*\)/g;
const HTML_TAG = /<\/?[a-z][^>]*>/gi;
/** A '<' a browser could still read as the start of a tag, comment or processing instruction. */
const TAG_START = /<(?=[a-z!/?])/gi;
// C0 controls except tab and newline, DEL, C1 controls, and bidi overrides that can disguise text.
// biome-ignore lint/suspicious/noControlCharactersInRegex: stripping control characters is the point.
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g;
/** Invisible characters that can hide inside a domain (zero-width space, soft hyphen, word joiner …). */
const INVISIBLE = /[\u00ad\u180e\u200b\u200c\u2060-\u2064\ufeff]/g;
/** A Markdown backslash escape: `evil\.com` is shown as `evil.com`. */
const MARKDOWN_ESCAPE = /\\(?=[\p{P}\p{S}])/gu;
const NUMERIC_ENTITY = /&#(?:x([0-9a-f]{1,6})|(\d{1,7}));/gi;
const NAMED_ENTITIES: Readonly<Record<string, string>> = {
  amp: "&",
  lt: "<",
  gt: ">",
  quot: '"',
  apos: "'",
  nbsp: " ",
  period: ".",
  sol: "/",
  colon: ":",
  commat: "@",
};
const NAMED_ENTITY = /&([a-z]+);/gi;

/*
 * What a mail client, a Markdown renderer or a browser may turn into a link, tested on each
 * whitespace-delimited token; a token that matches is dropped whole.
 * - any scheme followed by a slash or backslash (`https:/`, `hxxp://`, `http:\\`), and the
 *   schemes opened without slashes (`mailto:`, `tel:`, `javascript:` …);
 * - `label.tld` in any script (lookalike letters are letters too), with the dots that IDN
 *   and defanged spellings use (`．`, `。`, `[.]`), the top-level label being two letters or
 *   more: "e.g.", "a.m.", "3.5" and "Mr. Smith" stay, "evil.co" goes;
 * - `www.` followed by anything, an IPv4 address (dotted decimal, or with a hexadecimal part:
 *   `0x5c.0xde.0x1.0x44`, `0x7f.1`), and `someone@somewhere`;
 * - the pieces of a Markdown link a renderer completes across tokens or lines: `](` (an inline
 *   link around nested brackets, `[a [b] c](//host)`) and `]:` (a reference definition,
 *   `[r]: //host`), and a protocol-relative or network path (`//intranet`, `/\host`), which a
 *   browser resolves to another host. A bare decimal host (`1558071108`) is harmless without
 *   such a prefix or a scheme, and numbers stay in prose.
 * The domain rule holds for every prefix of a token it rejects, so cutting clean text never
 * makes a domain appear.
 */
const SCHEME = /[a-z][a-z0-9+.-]*:[\\/]|(?:mailto|tel|sms|javascript|vbscript|data|file):\S/i;
/** Cheap first test: without ':/' or ':\' no slashed scheme can match (the full pattern is quadratic). */
const SCHEME_HINT = /:[\\/]|(?:mailto|tel|sms|javascript|vbscript|data|file):/i;
const DOT = String.raw`(?:[.\u3002\uff0e\uff61\u2024\ufe52]|\[\.\]|\(\.\)|\{\.\})`;
const LABEL_CHAR = String.raw`[\p{L}\p{N}\p{M}\u200d_-]`;
// Starting only where a label starts keeps the search linear in the token's length (a match
// inside a label implies one from its start).
const DOMAIN = new RegExp(String.raw`(?<!${LABEL_CHAR})${LABEL_CHAR}+${DOT}\p{L}[\p{L}\p{M}]+`, "u");
const IPV4 = new RegExp(String.raw`\d{1,3}(?:${DOT}\d{1,3}){3}`, "u");
const WWW = new RegExp(String.raw`www\d{0,3}${DOT}\S`, "iu");
/** A dotted host with a hexadecimal part, which browsers read as IPv4: `0x5c.0xde.0x1.0x44`, `127.0x1`. */
const HEX_IPV4 = new RegExp(
  String.raw`(?:\d+${DOT}){1,3}0x[0-9a-f]+|0x[0-9a-f]*${DOT}(?:0x[0-9a-f]*|\d)`,
  "iu",
);
const EMAIL = /[^\s@]@[^\s@]/;
const MARKDOWN_LINK_PIECE = /\]\(|\]:/;
/** `//host` and its backslashed spellings, at the start of a token or after an opening mark. */
const NETWORK_PATH = /(?:^|[([{<"'])[\\/]{2}/;

function isLinkLike(token: string): boolean {
  return (
    (SCHEME_HINT.test(token) && SCHEME.test(token)) ||
    [WWW, DOMAIN, IPV4, HEX_IPV4, EMAIL, MARKDOWN_LINK_PIECE, NETWORK_PATH].some((pattern) =>
      pattern.test(token),
    )
  );
}

/** Removes tags until none is left: removing `<script>` from `<<script>script>` makes another. */
function stripTags(text: string): string {
  let current = text;
  for (let next = current.replace(HTML_TAG, ""); next !== current; next = current.replace(HTML_TAG, "")) {
    current = next;
  }
  return current.replace(TAG_START, "");
}

function decodeEntities(text: string): string {
  return text
    .replace(NUMERIC_ENTITY, (entity, hex: string | undefined, decimal: string | undefined) => {
      const codePoint = hex ? Number.parseInt(hex, 16) : Number(decimal);
      return codePoint > 0 && codePoint <= 0x10ffff ? String.fromCodePoint(codePoint) : entity;
    })
    .replace(NAMED_ENTITY, (entity, name: string) => NAMED_ENTITIES[name.toLowerCase()] ?? entity);
}

/** One pass over the text; `sanitiseModelText` repeats it until nothing changes. */
function sanitisePass(text: string): string {
  const plain = decodeEntities(text)
    .replace(/\r\n?/g, "\n")
    .replace(CONTROL, "")
    .replace(INVISIBLE, "")
    .replace(MARKDOWN_ESCAPE, "")
    .replace(MARKDOWN_IMAGE, "")
    .replace(MARKDOWN_LINK, "$1");
  return stripTags(plain)
    .split(/(\s+)/)
    .filter((token) => !isLinkLike(token))
    .join("")
    .replace(/[ \t]+\n/g, "\n")
    .replace(/\n{3,}/g, "\n\n")
    .replace(/[ \t]{2,}/g, " ")
    .trim();
}

/** Cuts to at most `maxLength` UTF-16 units without splitting a surrogate pair. */
export function cut(text: string, maxLength: number): string {
  if (text.length <= maxLength) return text;
  const end = /[\ud800-\udbff]/.test(text.charAt(maxLength - 1)) ? maxLength - 1 : maxLength;
  return text.slice(0, end);
}

/**
 * Strips images, links (keeping their text), URLs, bare domains, email addresses, HTML tags,
 * entities and control characters. Repeated to a fixed point, because one removal can join
 * the pieces of another (`<<script>script>`), so the result is idempotent. Every step only
 * removes, so the loop ends. With `maxLength`, the clean text is cut and cleaned again.
 */
export function sanitiseModelText(text: string, { maxLength }: { maxLength?: number } = {}): string {
  let current = text;
  for (;;) {
    const next = sanitisePass(current);
    if (next === current) break;
    current = next;
  }
  if (maxLength === undefined || current.length <= maxLength) return current;
  return sanitiseModelText(cut(current, maxLength));
}

/** One line, safe for an email header or a push notification, cut at `maxLength` on a word. */
export function toSingleLine(text: string, maxLength: number): string {
  const line = sanitiseModelText(text).replace(/\s+/g, " ").trim();
  if (line.length <= maxLength) return line;
  const head = cut(line, maxLength - 1);
  const lastSpace = head.lastIndexOf(" ");
  // Cleaned again after the cut; cleaning only removes, so the line stays within `maxLength`.
  return sanitiseModelText(`${(lastSpace > maxLength / 2 ? head.slice(0, lastSpace) : head).trimEnd()}…`);
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

/** Characters that open or close a Markdown link, image, autolink, inline HTML or code span. */
const MARKDOWN_LINK_SYNTAX = /[[\]()<>!`\\]/g;

/**
 * Backslash-escapes the characters Markdown builds links, images, autolinks, HTML and code
 * spans from, so text placed in a Markdown document renders as the same characters and never
 * as markup. The second line of defence behind `sanitiseModelText` for the journal entry.
 */
export function escapeMarkdown(text: string): string {
  return text.replace(MARKDOWN_LINK_SYNTAX, (character) => `\\${character}`);
}

import fc from "fast-check";
// marked (a dependency of @react-email/markdown) is the oracle: a Markdown renderer like the
// journaling app's, so "no link" is checked on what a reader would actually see.
import { marked } from "marked";
import { describe, expect, it } from "vitest";
import { escapeMarkdown, sanitiseModelText, toSingleLine } from "@/core/message-text";

/*
 * These checks are written independently of the sanitiser's own patterns, and are a little
 * stricter, so that the property tests do not simply restate the implementation.
 */
const DOTS = String.raw`(?:[.\u3002\uFF0E\uFF61\u2024\uFE52]|\[\.\]|\(\.\)|\{\.\}|\\\.)`;
/** `label.tld`: a letter, digit, '_' or '-' right before a dot, two letters right after it. */
const DOMAIN_LIKE = new RegExp(String.raw`[\p{L}\p{N}_-]${DOTS}\p{L}{2}`, "u");
/** Any URL scheme with slashes, or one of the schemes mail clients open without them. */
const SCHEME = /[a-z][a-z0-9+.-]*:[\\/]{2}|(?:mailto|tel|sms|javascript|vbscript|data|file):\S/i;
const EMAIL = /[^\s@]@[^\s@]/;
/** A '<' that a browser could read as the start of a tag, comment or processing instruction. */
const TAG_START = /<[a-z!/?]/i;

/** What a Markdown renderer makes of the text, as the journal entry shows it. */
function renderMarkdown(markdown: string): string {
  return marked.parse(markdown, { async: false, gfm: true });
}

function expectNoRenderedLink(markdown: string): void {
  const html = renderMarkdown(markdown);
  expect(html).not.toMatch(/<a[\s>]/i);
  expect(html).not.toMatch(/<img[\s>]/i);
}

function expectNoLink(text: string): void {
  expect(text).not.toMatch(TAG_START);
  expect(text).not.toMatch(SCHEME);
  expect(text).not.toMatch(DOMAIN_LIKE);
  expect(text).not.toMatch(EMAIL);
}

/** Text assembled from the pieces links, tags and their disguises are made of. */
const hostileText = fc
  .array(
    fc.oneof(
      fc.constantFrom(
        "<",
        ">",
        "</",
        "<!--",
        "script",
        "img src=x",
        "http",
        "hxxp",
        "https",
        "://",
        ":\\\\",
        "//",
        ":",
        ".",
        "．",
        "。",
        "｡",
        "[.]",
        "(.)",
        "\\.",
        "com",
        "co",
        "login",
        "paypal-verify",
        "www",
        "evil",
        "xn--80ak6aa92e",
        "раураl",
        "@",
        "mailto:",
        "javascript:",
        "[",
        "](",
        ")",
        "![",
        "]:",
        "][",
        "[r]: ",
        "\n\n[r]: ",
        "//",
        "\\\\",
        "/settings/",
        "1558071108",
        "0x5c",
        "0x5c.0xde.0x1.0x44",
        "intranet",
        "&#46;",
        "&lt;",
        "\u200b",
        "\u00ad",
        "\u202e",
        "\r\n",
        "\n",
        " ",
        "e.g.",
        "3.5",
      ),
      fc.string({ maxLength: 6 }),
      fc.string({ unit: "grapheme", maxLength: 4 }),
    ),
    { maxLength: 40 },
  )
  .map((pieces) => pieces.join(""));

describe("model text carries no link, tag or address", () => {
  it.each([
    ["a tag nested inside a tag", "Hi <<script>script>alert(1)<</script>/script> there", "Hi alert(1) there"],
    ["a bare domain with a path", "Verify at paypal-verify.com/login today.", "Verify at today."],
    ["www without a scheme", "See www.x.y for more", "See for more"],
    ["a short bare domain", "Go to evil.co now", "Go to now"],
    ["a defanged scheme", "Open hxxp://evil.example/a now", "Open now"],
    ["a bracketed dot", "Visit example[.]com soon", "Visit soon"],
    ["a fullwidth dot", "Visit example．com soon", "Visit soon"],
    ["an ideographic full stop", "Visit example。com soon", "Visit soon"],
    ["a Cyrillic lookalike domain", "Log in at раураl.com please", "Log in at please"],
    ["a punycode domain", "Try xn--80ak6aa92e.xn--p1ai now", "Try now"],
    ["an email address", "Write to help@evil.co today", "Write to today"],
    ["a mailto link", "Write mailto:someone now", "Write now"],
    ["a zero-width space inside a domain", "Go to evil\u200b.com now", "Go to now"],
    ["a Markdown-escaped dot", "Go to evil\\.com now", "Go to now"],
    ["an HTML-entity dot", "Go to evil&#46;com now", "Go to now"],
    ["an IP address", "Go to 203.0.113.9/login now", "Go to now"],
    [
      "a Markdown link around nested brackets",
      "Read this: [your [weekly] insights](//1558071108/login)",
      "Read this: [your [weekly]",
    ],
    [
      "a reference-style Markdown link",
      "Read [your insights][r] today.\n\n[r]: //1558071108/login",
      "Read [your insights][r] today.",
    ],
    ["a protocol-relative address", "Open //intranet/admin now", "Open now"],
    ["a backslashed network path", "Open /\\intranet now", "Open now"],
    ["a hex-dotted IPv4 host", "Open //0x5c.0xde.0x1.0x44 or 0x5c.0xde.0x1.0x44 now", "Open or now"],
    ["a short hex IPv4 form", "Open 0x7f.1 now", "Open now"],
  ])("removes %s", (_case, input, expected) => {
    const safe = sanitiseModelText(input);
    expect(safe).toBe(expected);
    expectNoLink(safe);
    expectNoRenderedLink(safe);
    expectNoRenderedLink(escapeMarkdown(safe));
  });

  it.each([
    ["a link with nested brackets", "[your [weekly] insights](/settings/account)"],
    ["a reference-style link", "Read [your insights][r] today.\n\n[r]: /settings/account"],
    ["an image", "![x](/a.png)"],
    ["an angle-bracket destination", "[a](<//host path>) and [b]\n\n[b]: <//host>"],
    ["raw HTML", '<a href="/x">x</a>'],
  ])("the journal's Markdown shows %s as text, not a link", (_case, text) => {
    expectNoRenderedLink(escapeMarkdown(text));
  });

  it("escapes Markdown link syntax and shows the same characters once rendered", () => {
    expect(escapeMarkdown("a [b](c) <d> !e `f` \\g")).toBe("a \\[b\\]\\(c\\) \\<d\\> \\!e \\`f\\` \\\\g");
    expect(renderMarkdown(escapeMarkdown("See [notes](here) and (this)!"))).toBe(
      "<p>See [notes](here) and (this)!</p>\n",
    );
  });

  it.each([
    "Try this, e.g. a short walk before work.",
    "Mr. Smith said you could rest for 3.5 hours... and then?",
    "You wrote at 7 a.m. and again at 9 p.m.; i.e. twice.",
    "Score: 9.5/10. Keep going!",
    "Love it <3 and 2 < 5 > 1",
    "A list:\n\n- one\n- two",
  ])("keeps ordinary prose intact: %s", (prose) => {
    expect(sanitiseModelText(prose)).toBe(prose);
  });

  it("leaves no tag, scheme, domain or address in any text, and is idempotent", () => {
    fc.assert(
      fc.property(hostileText, (text) => {
        const safe = sanitiseModelText(text);
        expectNoLink(safe);
        expectNoRenderedLink(safe);
        expectNoRenderedLink(escapeMarkdown(safe));
        expect(sanitiseModelText(safe)).toBe(safe);
      }),
      { numRuns: 2_000 },
    );
  });

  it("a single line cut to length is just as clean, at any length", () => {
    fc.assert(
      fc.property(hostileText, fc.integer({ min: 2, max: 120 }), (text, maxLength) => {
        const line = toSingleLine(text, maxLength);
        expectNoLink(line);
        expect(line).not.toMatch(/[\r\n]/);
        expect(line.length).toBeLessThanOrEqual(maxLength);
      }),
      { numRuns: 1_000 },
    );
  });

  it("a cut never turns a harmless token into a domain", () => {
    expect(toSingleLine("Keep going evil.co2go", 20)).not.toMatch(DOMAIN_LIKE);
    expect(sanitiseModelText("Keep going evil.co2go", { maxLength: 18 })).not.toMatch(DOMAIN_LIKE);
  });
});

import { getConfig } from "@/config";
import { type EmailStrings, emailStrings, languageFromAcceptLanguage } from "@/core/email-strings";
import { AppError } from "@/core/errors";
import { readBoundedText } from "@/http/bounded-body";
import { methodNotAllowed, respond } from "@/http/respond";
import { checkUnsubscribe, unsubscribe } from "@/services/delivery";

/**
 * The one-click unsubscribe URL of every coaching email (`List-Unsubscribe`, RFC 8058) and its
 * footer link. GET shows a confirmation page whose button posts; it never writes, since mail
 * scanners follow links. POST with `List-Unsubscribe=One-Click` turns the user's email off: no
 * session, the signed token in the URL is the authority. The page speaks the browser's language
 * (`Accept-Language`, among those of src/core/email-strings.ts; English otherwise): the token names a
 * user, but reading their document only to choose words is not worth a read per page view.
 */

const ONE_CLICK_FIELD = "List-Unsubscribe";
const ONE_CLICK_VALUE = "One-Click";

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (character) => `&#${character.charCodeAt(0)};`);
}

interface PageLanguage {
  language: string;
  strings: EmailStrings["unsubscribePage"];
}

function pageLanguage(request: Request): PageLanguage {
  const language = languageFromAcceptLanguage(request.headers.get("accept-language"));
  return { language, strings: emailStrings(language).unsubscribePage };
}

function page({ language }: PageLanguage, status: number, title: string, body: string): Response {
  const html =
    `<!doctype html><html lang="${language}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">` +
    `<meta name="robots" content="noindex"><title>${escapeHtml(title)}</title></head>` +
    `<body style="font-family:Georgia,serif;background:#f6f5f2;color:#2d2a26;margin:0;padding:48px 16px">` +
    `<main style="max-width:480px;margin:0 auto;background:#fff;border-radius:8px;padding:32px 28px">` +
    `<h1 style="font-size:20px;margin:0 0 16px">${escapeHtml(title)}</h1>${body}</main></body></html>`;
  return new Response(html, {
    status,
    headers: {
      "content-type": "text/html; charset=utf-8",
      "cache-control": "no-store",
      "content-language": language,
      // The words depend on the browser's language.
      vary: "Accept-Language",
      // The URL carries the token: never send it on to another site.
      "referrer-policy": "no-referrer",
    },
  });
}

function invalidLink(locale: PageLanguage): Response {
  const { strings } = locale;
  return page(locale, 400, strings.invalidTitle, `<p>${escapeHtml(strings.invalidBody)}</p>`);
}

function tokenOf(request: Request): string {
  const token = new URL(request.url).searchParams.get("token");
  if (!token) throw new AppError("bad_request:api", "this unsubscribe link is not valid");
  return token;
}

export async function GET(request: Request): Promise<Response> {
  const token = new URL(request.url).searchParams.get("token") ?? "";
  const locale = pageLanguage(request);
  const { strings } = locale;
  return respond("unsubscribe", async () => {
    const config = getConfig();
    if (!config.unsubscribe)
      return page(locale, 404, strings.notAvailableTitle, `<p>${escapeHtml(strings.notAvailableBody)}</p>`);
    const link = await checkUnsubscribe(config, token);
    if (!link.valid) return invalidLink(locale);
    if (!link.emailOn)
      return page(
        locale,
        200,
        strings.doneTitle,
        `<p>${escapeHtml(strings.alreadyOffBody(link.maskedEmail))}</p>`,
      );
    const action = `?token=${encodeURIComponent(token)}`;
    return page(
      locale,
      200,
      strings.confirmTitle,
      `<p>${escapeHtml(strings.confirmBody(link.maskedEmail))}</p>` +
        `<form method="post" action="${escapeHtml(action)}">` +
        `<input type="hidden" name="${ONE_CLICK_FIELD}" value="${ONE_CLICK_VALUE}">` +
        `<button type="submit" style="background:#3d5a4c;color:#fff;border:0;border-radius:6px;padding:10px 18px;font-size:15px">${escapeHtml(strings.button)}</button>` +
        `</form>`,
    );
  });
}

/** A one-click form is a few dozen bytes; anyone can post here, so nothing larger is read. */
const MAX_ONE_CLICK_BODY_BYTES = 16 * 1_024;

/** The form body (RFC 8058 allows application/x-www-form-urlencoded and multipart/form-data). */
async function isOneClickBody(request: Request): Promise<boolean> {
  const body = await readBoundedText(request, MAX_ONE_CLICK_BODY_BYTES);
  const contentType = request.headers.get("content-type") ?? "";
  try {
    const form = await new Response(body, { headers: { "content-type": contentType } }).formData();
    return form.get(ONE_CLICK_FIELD) === ONE_CLICK_VALUE;
  } catch {
    return false;
  }
}

export async function POST(request: Request): Promise<Response> {
  const fromBrowser = (request.headers.get("accept") ?? "").includes("text/html");
  const locale = pageLanguage(request);
  return respond("unsubscribe", async () => {
    const config = getConfig();
    const token = tokenOf(request);
    if (!(await isOneClickBody(request)))
      throw new AppError("bad_request:api", `the body must be ${ONE_CLICK_FIELD}=${ONE_CLICK_VALUE}`);
    try {
      const { alreadyOff } = await unsubscribe(config, { token, now: Date.now() });
      if (fromBrowser)
        return page(locale, 200, locale.strings.doneTitle, `<p>${escapeHtml(locale.strings.doneBody)}</p>`);
      return Response.json({ success: true, emailNotifications: false, alreadyOff });
    } catch (error) {
      if (fromBrowser && error instanceof AppError && error.type === "bad_request")
        return invalidLink(locale);
      throw error;
    }
  });
}

export const PUT = methodNotAllowed(["GET", "POST"]);
export const PATCH = methodNotAllowed(["GET", "POST"]);
export const DELETE = methodNotAllowed(["GET", "POST"]);

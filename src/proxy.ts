import { type NextRequest, NextResponse } from "next/server";
import { getConfig } from "@/config";
import { SESSION_COOKIE, sessionSecretOf, verifySessionToken } from "@/http/admin-session";

function decodesCleanly(pathname: string): boolean {
  try {
    decodeURIComponent(pathname);
    return true;
  } catch {
    return false;
  }
}

/**
 * The first gate in front of the admin area: pages without a valid session go to the sign-in
 * page, admin APIs answer 401. Each page, action and route checks again at the data access.
 * Before that, a path with a malformed escape (`/admin/users/%E0%A4%A`), which Next.js would
 * answer with a bare 500 when it decodes the route's parameters, gets a 400 in docs/api.md's error
 * shape (APIs, including the users' key routes) or the users page with a notice (pages).
 */
export function proxy(request: NextRequest) {
  const { pathname } = request.nextUrl;
  if (!decodesCleanly(pathname)) {
    if (pathname.startsWith("/api/")) {
      return NextResponse.json({ success: false, error: "invalid path: malformed escape" }, { status: 400 });
    }
    const users = new URL("/admin/users", request.url);
    users.searchParams.set("notice", "That address has a malformed escape; it names no user.");
    return NextResponse.redirect(users);
  }
  if (pathname.startsWith("/api/users/")) return NextResponse.next();
  if (pathname === "/admin/login") return NextResponse.next();
  const token = request.cookies.get(SESSION_COOKIE)?.value;
  const signedIn = verifySessionToken({
    token,
    sessionSecret: sessionSecretOf(getConfig().admin),
    now: Date.now(),
  });
  if (signedIn) return NextResponse.next();
  if (pathname.startsWith("/api/admin")) {
    // Scripts may use the cron bearer secret instead of a session; the route checks it.
    if (request.headers.get("authorization")?.startsWith("Bearer ")) return NextResponse.next();
    return NextResponse.json({ success: false, error: "sign in as an admin" }, { status: 401 });
  }
  const login = new URL("/admin/login", request.url);
  login.searchParams.set("next", pathname);
  return NextResponse.redirect(login);
}

export const config = { matcher: ["/admin", "/admin/:path*", "/api/admin/:path*", "/api/users/:path*"] };

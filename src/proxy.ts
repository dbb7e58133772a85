import { type NextRequest, NextResponse } from "next/server";
import { getConfig } from "@/config";
import { SESSION_COOKIE, verifySessionToken } from "@/http/admin-session";

/**
 * The first gate in front of the admin area: pages without a valid session go to the sign-in
 * page, admin APIs answer 401. Each page, action and route checks again at the data access.
 */
export function proxy(request: NextRequest) {
  const { pathname } = request.nextUrl;
  if (pathname === "/admin/login") return NextResponse.next();
  const adminPassword = getConfig().env.ADMIN_PASSWORD;
  const token = request.cookies.get(SESSION_COOKIE)?.value;
  const signedIn = adminPassword ? verifySessionToken({ token, adminPassword, now: Date.now() }) : false;
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

export const config = { matcher: ["/admin", "/admin/:path*", "/api/admin/:path*"] };

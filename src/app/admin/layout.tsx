import type { Metadata } from "next";
import type { ReactNode } from "react";
import { hasAdminSession } from "@/services/admin-auth";
import { logoutAction } from "./actions";
import "./admin.css";

export const metadata: Metadata = { title: "coaching-engine admin" };
export const dynamic = "force-dynamic";

export default async function AdminLayout({ children }: { children: ReactNode }) {
  const signedIn = await hasAdminSession();
  return (
    <div className="shell">
      {signedIn ? (
        <header className="topbar">
          <strong>coaching-engine</strong>
          <nav aria-label="Admin">
            <a href="/admin">Dashboard</a>
            <a href="/admin/users">Users</a>
            <a href="/admin/runs">Runs</a>
            <a href="/admin/events">Events</a>
            <a href="/admin/engagement">Engagement</a>
            <a href="/admin/suppressions">Suppressions</a>
          </nav>
          <form action={logoutAction}>
            <button type="submit" className="secondary">
              Sign out
            </button>
          </form>
        </header>
      ) : null}
      <main>{children}</main>
    </div>
  );
}

import { redirect } from "next/navigation";
import { hasAdminSession, loginErrorMessage } from "@/services/admin-auth";
import { loginAction } from "../actions";

export default async function LoginPage({
  searchParams,
}: {
  searchParams: Promise<{ error?: string | string[]; retry?: string | string[]; next?: string | string[] }>;
}) {
  const params = await searchParams;
  // A repeated parameter arrives as an array; the first one counts.
  const [code] = [params.error].flat();
  const [retry] = [params.retry].flat();
  const [next] = [params.next].flat();
  // Anyone can write the URL: only a known code is shown, as the page's own text.
  const error = loginErrorMessage(code, /^\d{1,6}$/.test(retry ?? "") ? Number(retry) : undefined);
  if (await hasAdminSession()) redirect("/admin");
  return (
    <div className="login panel">
      <h1>Sign in</h1>
      <form action={loginAction}>
        <input type="hidden" name="next" value={next ?? "/admin"} />
        <label htmlFor="password">Admin password</label>
        <input id="password" name="password" type="password" autoComplete="current-password" required />
        {error ? (
          <p role="alert" className="error-text" data-testid="login-error">
            {error}
          </p>
        ) : null}
        <button type="submit">Sign in</button>
      </form>
    </div>
  );
}

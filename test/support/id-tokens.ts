/**
 * Firebase ID tokens as the Auth emulator issues them: unsigned (alg "none"), which
 * firebase-admin accepts when FIREBASE_AUTH_EMULATOR_HOST is set, and only then.
 */
const base64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");

export function emulatorIdToken({
  uid,
  projectId,
  expiresInSeconds = 3_600,
}: {
  uid: string;
  projectId: string;
  expiresInSeconds?: number;
}): string {
  const now = Math.floor(Date.now() / 1000);
  const header = { alg: "none", typ: "JWT" };
  const payload = {
    iss: `https://securetoken.google.com/${projectId}`,
    aud: projectId,
    auth_time: now - 60,
    user_id: uid,
    sub: uid,
    iat: now - 60,
    exp: now + expiresInSeconds,
    firebase: { identities: {}, sign_in_provider: "password" },
  };
  return `${base64url(header)}.${base64url(payload)}.`;
}

/**
 * Users' own API keys at rest: AES-256-GCM with a random 96-bit IV per encryption, the user id
 * as associated data (a ciphertext copied to another user fails to decrypt) and a key version
 * (so ENCRYPTION_KEY can be rotated: old records decrypt with the previous key until rewritten).
 */
import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";

export interface EncryptedSecret {
  /** Which encryption key sealed it. */
  keyVersion: number;
  iv: string;
  tag: string;
  ciphertext: string;
}

export interface Keyring {
  current: { version: number; key: Buffer };
  /** Every key that may still have sealed a record, by version (the current one included). */
  byVersion: ReadonlyMap<number, Buffer>;
}

const ALGORITHM = "aes-256-gcm";
const IV_BYTES = 12;

function associatedData(uid: string): Buffer {
  return Buffer.from(`coaching-engine:user-api-key:${uid}`, "utf8");
}

export function encryptSecret({
  plaintext,
  uid,
  keyring,
  iv = randomBytes(IV_BYTES),
}: {
  plaintext: string;
  uid: string;
  keyring: Keyring;
  iv?: Buffer;
}): EncryptedSecret {
  const cipher = createCipheriv(ALGORITHM, keyring.current.key, iv);
  cipher.setAAD(associatedData(uid));
  const ciphertext = Buffer.concat([cipher.update(plaintext, "utf8"), cipher.final()]);
  return {
    keyVersion: keyring.current.version,
    iv: iv.toString("base64"),
    tag: cipher.getAuthTag().toString("base64"),
    ciphertext: ciphertext.toString("base64"),
  };
}

/** The plaintext, or null when the record was tampered with, moved to another user, or sealed by an unknown key. */
export function decryptSecret({
  secret,
  uid,
  keyring,
}: {
  secret: EncryptedSecret;
  uid: string;
  keyring: Keyring;
}): string | null {
  const key = keyring.byVersion.get(secret.keyVersion);
  if (!key) return null;
  try {
    const iv = Buffer.from(secret.iv, "base64");
    const tag = Buffer.from(secret.tag, "base64");
    if (iv.length !== IV_BYTES || tag.length !== 16) return null;
    const decipher = createDecipheriv(ALGORITHM, key, iv);
    decipher.setAAD(associatedData(uid));
    decipher.setAuthTag(tag);
    return Buffer.concat([
      decipher.update(Buffer.from(secret.ciphertext, "base64")),
      decipher.final(),
    ]).toString("utf8");
  } catch {
    return null;
  }
}

/** The last four characters, the only part of a key ever shown. */
export function keyHint(apiKey: string): string {
  return apiKey.slice(-4);
}

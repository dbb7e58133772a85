import { randomBytes } from "node:crypto";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { decryptSecret, type EncryptedSecret, encryptSecret, type Keyring, keyHint } from "@/core/key-cipher";

const keyA = randomBytes(32);
const keyB = randomBytes(32);
const ring = (current: { version: number; key: Buffer }, ...others: [number, Buffer][]): Keyring => ({
  current,
  byVersion: new Map([...others, [current.version, current.key]]),
});
const v1 = ring({ version: 1, key: keyA });
const API_KEY = "sk-or-v1-0123456789abcdef0123456789abcdef";

function flipBit(base64: string, bit: number): string {
  const bytes = Buffer.from(base64, "base64");
  const index = bit % (bytes.length * 8);
  bytes[Math.floor(index / 8)] = (bytes[Math.floor(index / 8)] ?? 0) ^ (1 << (index % 8));
  return bytes.toString("base64");
}

describe("users' keys at rest (AES-256-GCM)", () => {
  it("round-trips, with a fresh 96-bit IV each time", () => {
    const first = encryptSecret({ plaintext: API_KEY, uid: "alice", keyring: v1 });
    const second = encryptSecret({ plaintext: API_KEY, uid: "alice", keyring: v1 });
    expect(Buffer.from(first.iv, "base64")).toHaveLength(12);
    expect(first.iv).not.toBe(second.iv);
    expect(first.ciphertext).not.toBe(second.ciphertext);
    expect(decryptSecret({ secret: first, uid: "alice", keyring: v1 })).toBe(API_KEY);
    expect(JSON.stringify(first)).not.toContain(API_KEY);
  });

  it.each(["ciphertext", "tag", "iv"] as const)(
    "fails to decrypt after any flipped bit in the %s",
    (field) => {
      const sealed = encryptSecret({ plaintext: API_KEY, uid: "alice", keyring: v1 });
      fc.assert(
        fc.property(fc.nat(), (bit) => {
          const tampered: EncryptedSecret = { ...sealed, [field]: flipBit(sealed[field], bit) };
          expect(decryptSecret({ secret: tampered, uid: "alice", keyring: v1 })).toBeNull();
        }),
      );
    },
  );

  it("fails to decrypt a ciphertext copied to another user", () => {
    const sealed = encryptSecret({ plaintext: API_KEY, uid: "alice", keyring: v1 });
    expect(decryptSecret({ secret: sealed, uid: "mallory", keyring: v1 })).toBeNull();
  });

  it("after rotating the key, records sealed under both versions still decrypt; new ones use the new key", () => {
    const old = encryptSecret({ plaintext: API_KEY, uid: "alice", keyring: v1 });
    const rotated = ring({ version: 2, key: keyB }, [1, keyA]);
    const fresh = encryptSecret({ plaintext: `${API_KEY}-2`, uid: "alice", keyring: rotated });
    expect(fresh.keyVersion).toBe(2);
    expect(decryptSecret({ secret: old, uid: "alice", keyring: rotated })).toBe(API_KEY);
    expect(decryptSecret({ secret: fresh, uid: "alice", keyring: rotated })).toBe(`${API_KEY}-2`);
    // A record whose key was dropped from the ring is unreadable, not misread.
    expect(decryptSecret({ secret: old, uid: "alice", keyring: ring({ version: 2, key: keyB }) })).toBeNull();
  });

  it("shows only the last four characters", () => {
    expect(keyHint(API_KEY)).toBe("cdef");
  });
});

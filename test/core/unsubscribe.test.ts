import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { isDocumentId } from "@/core/document-id";
import { suppressionIdFor } from "@/core/email-address";
import {
  listUnsubscribeHeaders,
  signUnsubscribeToken,
  unsubscribeTokenUid,
  unsubscribeUrl,
  verifyUnsubscribeToken,
} from "@/core/unsubscribe";

const SECRET = "unsubscribe-secret-0123456789abcdef";
// A uid is a user document's id: tokens naming anything else are refused unread (see below).
const uid = fc.string({ minLength: 1, maxLength: 128 }).filter(isDocumentId);
const email = fc.emailAddress();

describe("unsubscribe tokens", () => {
  it("verify for the uid and address they were signed for, and name that uid", () => {
    fc.assert(
      fc.property(uid, email, (user, address) => {
        const token = signUnsubscribeToken({ secret: SECRET, uid: user, email: address });
        expect(unsubscribeTokenUid(token)).toBe(user);
        expect(verifyUnsubscribeToken({ secret: SECRET, token, uid: user, email: address })).toBe(true);
      }),
    );
  });

  it("never verify for another uid, even at the same address", () => {
    fc.assert(
      fc.property(uid, uid, email, (user, other, address) => {
        fc.pre(user !== other);
        const token = signUnsubscribeToken({ secret: SECRET, uid: user, email: address });
        expect(verifyUnsubscribeToken({ secret: SECRET, token, uid: other, email: address })).toBe(false);
      }),
    );
  });

  it("stop verifying once the account's address is another one", () => {
    fc.assert(
      fc.property(uid, email, email, (user, sentTo, current) => {
        fc.pre(sentTo.toLowerCase() !== current.toLowerCase());
        const token = signUnsubscribeToken({ secret: SECRET, uid: user, email: sentTo });
        expect(verifyUnsubscribeToken({ secret: SECRET, token, uid: user, email: current })).toBe(false);
      }),
    );
  });

  it("compare addresses case-insensitively", () => {
    const token = signUnsubscribeToken({ secret: SECRET, uid: "ada", email: "Ada@Example.com" });
    expect(verifyUnsubscribeToken({ secret: SECRET, token, uid: "ada", email: " ada@example.com" })).toBe(
      true,
    );
  });

  it("refuse a token signed with another secret, or altered in any character", () => {
    const token = signUnsubscribeToken({ secret: SECRET, uid: "ada", email: "ada@example.com" });
    const other = signUnsubscribeToken({ secret: `${SECRET}x`, uid: "ada", email: "ada@example.com" });
    expect(
      verifyUnsubscribeToken({ secret: SECRET, token: other, uid: "ada", email: "ada@example.com" }),
    ).toBe(false);
    fc.assert(
      fc.property(fc.nat({ max: token.length - 1 }), fc.constantFrom(..."AQgw_-.x"), (index, character) => {
        const altered = token.slice(0, index) + character + token.slice(index + 1);
        fc.pre(altered !== token);
        expect(
          verifyUnsubscribeToken({ secret: SECRET, token: altered, uid: "ada", email: "ada@example.com" }),
        ).toBe(false);
      }),
    );
  });

  it("accept one spelling of a signature only (its last character's unused bits included)", () => {
    const token = signUnsubscribeToken({ secret: SECRET, uid: "ada", email: "ada@example.com" });
    const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    for (const character of alphabet) {
      const altered = token.slice(0, -1) + character;
      expect(
        verifyUnsubscribeToken({ secret: SECRET, token: altered, uid: "ada", email: "ada@example.com" }),
      ).toBe(altered === token);
    }
  });

  it.each([
    "",
    "v1",
    "v1.YWRh",
    "v2.YWRh.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    "v1.YWRh.short",
    "v1.YWRh.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA.extra",
    "v1.YW=h.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
  ])("reads no uid from the malformed token %j", (token) => {
    expect(unsubscribeTokenUid(token)).toBeNull();
  });
});

describe("List-Unsubscribe headers", () => {
  it("carry the HTTPS URL, then the mailto when configured, and the one-click marker", () => {
    const url = unsubscribeUrl({ pageUrl: "https://coach.example/unsubscribe", token: "v1.a.b" });
    expect(url).toBe("https://coach.example/unsubscribe?token=v1.a.b");
    expect(listUnsubscribeHeaders({ url, mailto: null })).toEqual({
      "List-Unsubscribe": "<https://coach.example/unsubscribe?token=v1.a.b>",
      "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    });
    expect(listUnsubscribeHeaders({ url, mailto: "unsubscribe@coach.example" })["List-Unsubscribe"]).toBe(
      "<https://coach.example/unsubscribe?token=v1.a.b>, <mailto:unsubscribe@coach.example?subject=unsubscribe>",
    );
  });
});

describe("suppression ids", () => {
  it("are the same for an address however it is cased or padded", () => {
    expect(suppressionIdFor(" Ada@Example.COM ")).toBe(suppressionIdFor("ada@example.com"));
    expect(suppressionIdFor("ada@example.com")).toMatch(/^[0-9a-f]{64}$/);
  });
});

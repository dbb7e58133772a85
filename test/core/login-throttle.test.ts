import { describe, expect, it } from "vitest";
import { clientAddressFrom, loginThrottleBucket, loginWindow } from "@/core/login-throttle";

describe("sign-in throttle buckets", () => {
  it.each([
    ["203.0.113.9", "203.0.113.9"],
    [" 203.0.113.9 ", "203.0.113.9"],
    ["::ffff:203.0.113.9", "203.0.113.9"],
    ["[::ffff:cb00:7109]:443", "203.0.113.9"],
    ["2001:db8:0:77::1", "2001:db8:0:77::/64"],
    ["2001:0DB8:0000:0077:ffff:1:2:3", "2001:db8:0:77::/64"],
    ["2001:db8:0:77:1:2:3:4%eth0", "2001:db8:0:77::/64"],
    ["2001:db8::", "2001:db8:0:0::/64"],
    ["::1", "0:0:0:0::/64"],
    ["local", "other:local"],
    ["999.1.1.1", "other:999.1.1.1"],
    ["1:2:3:4:5:6:7:8:9", "other:1:2:3:4:5:6:7:8:9"],
  ])("%s counts as %s", (address, bucket) => {
    expect(loginThrottleBucket(address)).toBe(bucket);
  });

  it("windows start on a multiple of their length", () => {
    const windowMs = 15 * 60_000;
    expect(loginWindow(Date.parse("2026-11-30T10:14:59Z"), windowMs)).toEqual({
      start: Date.parse("2026-11-30T10:00:00Z"),
      end: Date.parse("2026-11-30T10:15:00Z"),
    });
  });

  it("off Vercel, X-Forwarded-For counts only when the proxy hops are set", () => {
    const headers = new Headers({ "x-forwarded-for": "192.0.2.1, 198.51.100.7" });
    expect(clientAddressFrom({ headers, onVercel: false, trustedProxyHops: undefined })).toBe("unknown");
    expect(clientAddressFrom({ headers, onVercel: false, trustedProxyHops: 0 })).toBe("198.51.100.7");
    expect(clientAddressFrom({ headers, onVercel: false, trustedProxyHops: 1 })).toBe("192.0.2.1");
  });
});

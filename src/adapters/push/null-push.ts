import "server-only";
import type { PushTransport } from "@/pipeline/channel-ports";

/**
 * No push provider is wired in: the push text is stored on the message for the app to show, and
 * delivery is recorded as not delivered, with the reason, rather than pretended.
 */
export function createNullPushTransport(): PushTransport {
  return {
    async send() {
      return { delivered: false, reason: "no push transport configured" };
    },
  };
}

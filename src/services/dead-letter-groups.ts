import "server-only";
import { createFirestoreEventsPageStore } from "@/adapters/firestore/admin/events-page-store";
import { getDb } from "@/adapters/firestore/client";
import type { AppConfig } from "@/config";
import { logger } from "@/logger";
import {
  type DeadLetterGroupPorts,
  deadLetterGroups,
  type GroupReplayResult,
  replayDeadLetterGroup,
} from "@/pipeline/replay-dead-letter-group";
import { eventProcessorDeps } from "./events";

function groupPorts(config: AppConfig): DeadLetterGroupPorts {
  const pageStore = createFirestoreEventsPageStore(getDb(config));
  const { store } = eventProcessorDeps(config);
  return {
    recentDeadLetters: (limit) => pageStore.recentDeadLetterSummaries(limit),
    requeue: (input) => store.requeue(input),
  };
}

/**
 * The events page's dead-letter groups: the newest DEAD_LETTER_GROUP_WINDOW letters grouped
 * (that many reads at most) and the total (one count aggregation), so the page can say when
 * older letters are not in the groups.
 */
export async function deadLetterGroupsOverview(config: AppConfig) {
  const [{ groups, lettersRead }, total] = await Promise.all([
    deadLetterGroups(groupPorts(config)),
    createFirestoreEventsPageStore(getDb(config)).deadLetterCount(),
  ]);
  return { groups, lettersRead, total };
}

/** Replays one group of dead letters if it still has `expectedCount` letters (an admin action). */
export async function replayDeadLetterGroupNow(
  config: AppConfig,
  input: { group: { eventType: string; errorSignature: string }; expectedCount: number; now: number },
): Promise<GroupReplayResult> {
  const result = await replayDeadLetterGroup({ ports: groupPorts(config), ...input });
  if (result.ok)
    logger.info("dead-letter group replayed by an admin", {
      eventType: input.group.eventType,
      requeued: result.requeued.length,
      missing: result.missing,
    });
  return result;
}

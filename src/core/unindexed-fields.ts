/**
 * Large or free-text fields exempted from indexing (`fieldOverrides` in firestore.indexes.json):
 * nothing queries them, and indexing them costs write latency, storage and the 1,500-byte
 * index-entry truncation.
 */
export const UNINDEXED_FIELDS: readonly { collection: string; field: string }[] = [
  { collection: "coachingMessages", field: "messageContent" },
  { collection: "coachingMessages", field: "originalMessageContent" },
  { collection: "coachingMessages", field: "outcomeReasoning" },
  { collection: "coachingMessages", field: "contextUsed" },
  { collection: "coachingMessages", field: "llmCalls" },
  { collection: "coachingMessages", field: "delivery" },
  { collection: "journalEntries", field: "content" },
  { collection: "userInsights", field: "summary" },
  { collection: "userInsights", field: "latestSummary" },
  { collection: "userInsights", field: "batches" },
  { collection: "userProcessingState", field: "actionHistory" },
  { collection: "userProcessingState", field: "recentErrors" },
  { collection: "userProcessingState", field: "insights" },
  { collection: "schedulerRuns", field: "userResults" },
  { collection: "events", field: "payload" },
  { collection: "events", field: "last_error" },
  { collection: "eventDeadLetters", field: "payload" },
  { collection: "eventDeadLetters", field: "error_message" },
  { collection: "userApiKeys", field: "encrypted" },
  { collection: "messageFeedback", field: "note" },
  { collection: "llmCallCeiling", field: "reservations" },
];

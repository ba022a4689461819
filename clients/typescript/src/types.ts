/**
 * Friendly names for the API's shapes. Everything here comes from `openapi.ts`, which is
 * generated from the API's OpenAPI document (`npm run generate`); only the batch shapes and
 * the workflow-handler shapes are written by hand (see the notes on each).
 */
import type { components } from "./openapi.js";

type Schemas = components["schemas"];

export type ScheduleCreate = Schemas["ScheduleCreate"];
export type SchedulePatch = Schemas["SchedulePatch"];
export type Schedule = Schemas["ScheduleDetail"];
export type ScheduleListItem = Schemas["ScheduleListItem"];
export type Execution = Schemas["ExecutionOut"];
export type BackfillResult = Schemas["BackfillResponse"];
export type PreviewResult = Schemas["PreviewResponse"];
export type OverallStats = Schemas["OverallStatsOut"];
export type ErrorBody = Schemas["ErrorBody"];
export type ErrorDetail = Schemas["ErrorDetail"];

export type ScheduleState = ScheduleListItem["state"];
export type ExecutionStatus = Execution["status"];

/** An instant: a `Date`, or an ISO 8601 string with an offset (`2026-03-08T08:00:00Z`). */
export type Instant = Date | string;

/**
 * One item of the answer of `POST /api/schedules/batch`, in the order sent.
 * Written by hand against the announced shape while that endpoint was being built; once it is
 * in the OpenAPI document these become aliases of the generated types.
 */
export interface BatchItemResult {
  /** The position of the schedule in the request. */
  index: number;
  /** `created` or `updated` when stored; anything else means it was not. */
  status: string;
  id?: string | null;
  schedule?: Schedule | null;
  /** What is wrong with this item (empty when it was stored). */
  errors?: ErrorDetail[];
  [key: string]: unknown;
}

/** The answer of `POST /api/schedules/batch`: one result per schedule sent. */
export interface BatchResult {
  items: BatchItemResult[];
  [key: string]: unknown;
}

/** The JSON body of a delivery (SPEC §5); `callbackUrl` is where the result is reported. */
export interface DeliveryPayload {
  executionId: string;
  triggerId: string;
  workflowId: string;
  scheduledAt: string;
  attempt: number;
  trigger: string;
  input: Record<string, unknown>;
  callbackUrl?: string;
}

/** What a workflow reports when it finishes (`POST <callbackUrl>`). */
export interface WorkflowResult {
  status: "succeeded" | "failed";
  /** Why it failed (kept on the execution). */
  error?: string;
  output?: Record<string, unknown>;
  /** A failure worth another attempt (the schedule's retry policy applies). */
  retryable?: boolean;
}

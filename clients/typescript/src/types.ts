/**
 * Friendly names for the API's shapes. Everything here comes from `openapi.ts`, which is
 * generated from the API's OpenAPI document (`npm run generate`); the batch shapes until the
 * document has them, and the delivery payload (not part of the API), are written by hand.
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
 * The generated schema `K` once the OpenAPI document has it, else `Fallback`. The batch
 * endpoint was built in parallel with this client: its shapes are written by hand below, and
 * the generated ones take over by themselves when `npm run generate` sees the endpoint.
 */
type Generated<K extends string, Fallback> = Schemas extends Record<K, infer T> ? T : Fallback;

/**
 * What became of one schedule of a batch, in the order sent: `error`, `message` and `errors`
 * are what `POST /api/schedules` would have answered for it.
 */
export type BatchItemResult = Generated<
  "BatchItemOut",
  {
    index: number;
    id: string | null;
    status: "created" | "updated" | "unchanged" | "error";
    error?: string | null;
    message?: string | null;
    errors?: ErrorDetail[];
  }
>;

/** The answer of `POST /api/schedules/batch`: one result per schedule, and the counts. */
export type BatchResult = Generated<
  "BatchOut",
  { items: BatchItemResult[]; created: number; updated: number; unchanged: number; failed: number }
>;

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

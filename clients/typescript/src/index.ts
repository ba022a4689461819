export { SchedulerClient } from "./client.js";
export type {
  ListExecutionsOptions,
  ListSchedulesOptions,
  PreviewOptions,
  SchedulerClientOptions,
  Versioned,
} from "./client.js";
export { SchedulerError, parseRetryAfter } from "./errors.js";
export { Paginated, type Page } from "./pages.js";
export type { TransportOptions } from "./http.js";
export { verifyDelivery, type HeadersLike, type VerifyOptions } from "./webhooks.js";
export { CALLBACK_TOKEN_HEADER, heartbeat, heartbeatUrl, reportResult } from "./callbacks.js";
export type * from "./types.js";
export type { components, operations, paths } from "./openapi.js";

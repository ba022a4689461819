import { call, type TransportOptions } from "./http.js";
import type { Execution, WorkflowResult } from "./types.js";

/** The header of a delivery that carries the token for `reportResult` and `heartbeat`. */
export const CALLBACK_TOKEN_HEADER = "x-scheduler-callback-token";

/**
 * Report the outcome of a run the target accepted (answered 202): `callbackUrl` is the
 * delivery body's `callbackUrl`, `callbackToken` its `X-Scheduler-Callback-Token` header.
 * Resolves with the execution (200: recorded, or the same report again; 202: it came before
 * the scheduler recorded the target's 202 and is applied then). Rejects with a
 * `SchedulerError` otherwise: 401 for a wrong token, 409 when the run is not awaiting a result
 * or a different result came first.
 */
export function reportResult(
  callbackUrl: string,
  callbackToken: string,
  result: WorkflowResult,
  options: TransportOptions = {},
): Promise<Execution> {
  return call<Execution>({ method: "POST", url: callbackUrl, token: callbackToken, body: result }, options);
}

/**
 * Tell the scheduler that an accepted run is still working: its completion deadline moves to
 * now + the schedule's `completionTimeoutSeconds`. Resolves with the execution.
 * The heartbeat URL is `callbackUrl` with its final `/result` replaced by `/heartbeat`.
 */
export function heartbeat(
  callbackUrl: string,
  callbackToken: string,
  options: TransportOptions = {},
): Promise<Execution> {
  return call<Execution>({ method: "POST", url: heartbeatUrl(callbackUrl), token: callbackToken }, options);
}

/** The heartbeat URL of a result URL; throws for a URL that does not end in `/result`. */
export function heartbeatUrl(callbackUrl: string): string {
  const url = new URL(callbackUrl);
  if (!url.pathname.endsWith("/result")) {
    throw new TypeError(`heartbeat: ${callbackUrl} is not a callbackUrl (its path does not end in /result)`);
  }
  url.pathname = url.pathname.slice(0, -"/result".length) + "/heartbeat";
  return url.toString();
}

import { call, type Call, type TransportOptions } from "./http.js";
import { Paginated, type Page } from "./pages.js";
import type {
  BackfillResult,
  BatchResult,
  Execution,
  ExecutionStatus,
  Instant,
  OverallStats,
  PreviewResult,
  Schedule,
  ScheduleCreate,
  ScheduleListItem,
  SchedulePatch,
  ScheduleState,
} from "./types.js";

export interface SchedulerClientOptions extends TransportOptions {
  /** Where the API is, e.g. `http://localhost:8000` (a path prefix is kept). */
  baseUrl: string;
  /** An API token (`scheduler token create`); it decides the tenant. */
  token: string;
}

/** The version a change is conditional on (sent as `If-Match`): a 412 if it is not current. */
export interface Versioned {
  version?: number;
}

export interface ListSchedulesOptions {
  workflowId?: string;
  state?: ScheduleState;
  /** Items per page (1–500, default 50). */
  limit?: number;
  /** Start from this cursor rather than the first page. */
  cursor?: string;
}

export interface ListExecutionsOptions {
  status?: ExecutionStatus;
  /** Items per page (1–500, default 50). */
  limit?: number;
  cursor?: string;
}

export interface PreviewOptions {
  cronExpression: string;
  timezone?: string;
  /** Runs after this instant (default: now, by the API's clock). */
  after?: Instant;
  /** How many runs (1–1,000, default 5). */
  count?: number;
}

type Query = Record<string, string | number | undefined>;

/**
 * The workflow-scheduler API. Every method rejects with a `SchedulerError` on a non-2xx
 * answer (`status`, `code`, `errors`, `retryAfterSeconds`).
 *
 *     const client = new SchedulerClient({ baseUrl: "http://localhost:8000", token });
 *     const schedule = await client.createSchedule({ workflowId: "report", cronExpression: "0 8 * * *" });
 *     for await (const s of client.listSchedules({ state: "active" })) console.log(s.id);
 */
export class SchedulerClient {
  private readonly baseUrl: string;
  private readonly token: string;
  private readonly transport: TransportOptions;

  constructor(options: SchedulerClientOptions) {
    if (!options.baseUrl) throw new TypeError("SchedulerClient: baseUrl is required");
    if (!options.token) throw new TypeError("SchedulerClient: token is required");
    this.baseUrl = options.baseUrl.replace(/\/+$/, "");
    this.token = options.token;
    this.transport = { fetch: options.fetch, timeoutMs: options.timeoutMs };
  }

  /** Create a schedule (`id` optional: the API makes one). */
  createSchedule(schedule: ScheduleCreate): Promise<Schedule> {
    return this.send("POST", "/api/schedules", { body: schedule });
  }

  /**
   * Create, or update by `id`, up to 1,000 schedules in one request and one transaction. Each
   * is validated on its own: a bad one is answered `status: "error"` with its `errors`, and
   * does not stop the others. More than 1,000 is a 422: split larger lists yourself.
   */
  createSchedules(schedules: ScheduleCreate[]): Promise<BatchResult> {
    return this.send("POST", "/api/schedules/batch", { body: { items: schedules } });
  }

  /** A schedule with its next runs and statistics. */
  getSchedule(id: string): Promise<Schedule> {
    return this.send("GET", `/api/schedules/${segment(id)}`);
  }

  /** Every schedule of your tenant matching the filters, page by page, newest first. */
  listSchedules(options: ListSchedulesOptions = {}): Paginated<ScheduleListItem> {
    const { cursor, ...filters } = options;
    return new Paginated(
      (next) =>
        this.send<Page<ScheduleListItem>>("GET", "/api/schedules", { query: { ...filters, cursor: next } }),
      cursor,
    );
  }

  /** Change some fields (`null` clears a nullable one); with `version`, only if it is current. */
  updateSchedule(id: string, changes: SchedulePatch, options: Versioned = {}): Promise<Schedule> {
    return this.send("PATCH", `/api/schedules/${segment(id)}`, {
      body: changes,
      headers: ifMatch(options.version),
    });
  }

  /** Delete a schedule (its history goes with it); with `version`, only if it is current. */
  async deleteSchedule(id: string, options: Versioned = {}): Promise<void> {
    await this.send("DELETE", `/api/schedules/${segment(id)}`, { headers: ifMatch(options.version) });
  }

  /** Pause: no runs until resumed. */
  pause(id: string, options: Versioned & { note?: string } = {}): Promise<Schedule> {
    return this.send("POST", `/api/schedules/${segment(id)}/pause`, {
      body: options.note === undefined ? undefined : { note: options.note },
      headers: ifMatch(options.version),
    });
  }

  /** Resume from now: the runs missed while paused are not caught up. */
  resume(id: string, options: Versioned & { note?: string } = {}): Promise<Schedule> {
    return this.send("POST", `/api/schedules/${segment(id)}/resume`, {
      body: options.note === undefined ? undefined : { note: options.note },
      headers: ifMatch(options.version),
    });
  }

  /** Run now (also while paused); rate-limited per tenant (429 with `retryAfterSeconds`). */
  trigger(id: string): Promise<Execution> {
    return this.send("POST", `/api/schedules/${segment(id)}/trigger`);
  }

  /** Run every slot in [start, end), at most 1,000; slots already run are counted, not rerun. */
  backfill(id: string, range: { start: Instant; end: Instant }): Promise<BackfillResult> {
    return this.send("POST", `/api/schedules/${segment(id)}/backfill`, {
      body: { start: instant(range.start), end: instant(range.end) },
    });
  }

  /** The next runs of a cron expression, and its description in words. */
  preview(options: PreviewOptions): Promise<PreviewResult> {
    const { after, ...rest } = options;
    return this.send("POST", "/api/schedules/preview", {
      body: after === undefined ? rest : { ...rest, after: instant(after) },
    });
  }

  /** A schedule's executions, newest first, page by page. */
  listExecutions(scheduleId: string, options: ListExecutionsOptions = {}): Paginated<Execution> {
    const { cursor, ...filters } = options;
    const path = `/api/schedules/${segment(scheduleId)}/executions`;
    return new Paginated(
      (next) => this.send<Page<Execution>>("GET", path, { query: { ...filters, cursor: next } }),
      cursor,
    );
  }

  /** One execution. */
  getExecution(id: string): Promise<Execution> {
    return this.send("GET", `/api/executions/${segment(id)}`);
  }

  /** Statistics over all your schedules. */
  stats(): Promise<OverallStats> {
    return this.send("GET", "/api/stats");
  }

  private send<T>(
    method: Call["method"],
    path: string,
    parts: { body?: unknown; headers?: Record<string, string>; query?: Query } = {},
  ): Promise<T> {
    const url = this.baseUrl + path + queryString(parts.query);
    return call<T>(
      { method, url, token: this.token, body: parts.body, headers: parts.headers },
      this.transport,
    );
  }
}

/** An id as one path segment: nothing in it can change the path. */
function segment(id: string): string {
  return encodeURIComponent(id);
}

function ifMatch(version: number | undefined): Record<string, string> | undefined {
  return version === undefined ? undefined : { "If-Match": `"${version}"` };
}

function instant(value: Instant): string {
  return value instanceof Date ? value.toISOString() : value;
}

function queryString(query: Query | undefined): string {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(query ?? {})) {
    if (value !== undefined) params.set(name, String(value));
  }
  const text = params.toString();
  return text ? `?${text}` : "";
}

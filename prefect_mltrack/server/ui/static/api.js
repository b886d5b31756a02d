// The one way views talk to the server: JSON over MLflow's /ajax-api routes (and our /mltrack extensions).
//
// Example:
//   import { api } from "./api.js";
//   const { experiments } = await api("experiments/search", { query: { max_results: 100 } });
//   await api("runs/set-tag", { method: "POST", body: { run_id, key: "k", value: "v" } });
//   const summaries = await api("experiments/summaries", { base: MLTRACK });

export const MLFLOW = "/ajax-api/2.0/mlflow/";
export const MLTRACK = "/ajax-api/2.0/mltrack/";

/** An error answer from the server: `error_code` (MLflow's, e.g. INVALID_PARAMETER_VALUE), `status`, message. */
export class ApiError extends Error {
  constructor(message, errorCode, status) {
    super(message);
    this.name = "ApiError";
    this.error_code = errorCode;
    this.status = status;
  }
}

/** A URL for `path` under `base` with `query` (arrays repeat the key; null/undefined are left out). */
export function apiUrl(path, { query, base = MLFLOW } = {}) {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query || {})) {
    if (value === undefined || value === null) continue;
    if (Array.isArray(value)) value.forEach((item) => params.append(key, String(item)));
    else params.append(key, String(value));
  }
  const search = params.toString();
  return base + path.replace(/^\//, "") + (search ? `?${search}` : "");
}

/**
 * Call the server and return the decoded JSON answer ({} for empty answers).
 * Throws ApiError with error_code and message on non-2xx answers (or a network failure).
 * `signal` (an AbortSignal) cancels the request.
 */
export async function api(path, { method = "GET", query, body, base = MLFLOW, signal } = {}) {
  const init = { method, headers: { Accept: "application/json" }, credentials: "same-origin", signal };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(apiUrl(path, { query, base }), init);
  } catch (error) {
    if (error && error.name === "AbortError") throw error;
    throw new ApiError(`Cannot reach the server (${error && error.message}); is it still running?`, "NETWORK_ERROR", 0);
  }
  const text = await response.text();
  let data = {};
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = { message: text.slice(0, 300) };
    }
  }
  if (!response.ok) {
    const code = data.error_code || `HTTP_${response.status}`;
    throw new ApiError(data.message || `${method} ${path} failed with HTTP ${response.status}`, code, response.status);
  }
  return data;
}

/** Shorthand for our own routes under /ajax-api/2.0/mltrack/. */
export function mltrackApi(path, options = {}) {
  return api(path, { ...options, base: MLTRACK });
}

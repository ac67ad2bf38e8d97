// Files on a datastore over vSphere's HTTP file API (GET /folder/<path>?dcPath=&dsName=), the
// way vSphere's own clients read them (govc datastore.tail): with the SOAP session's cookie, so
// no guest credentials and no extra account. The serial port's log is read from here.
import { DriverError } from "../types.ts";
import type { VimClient } from "./soap.ts";

export interface DatastorePath {
  datastore: string;
  /** Relative to the datastore's root, "/"-separated. */
  path: string;
}

/** "[datastore1] dir/file" -> { datastore: "datastore1", path: "dir/file" }. */
export function parseDatastorePath(p: string): DatastorePath | undefined {
  const m = /^\[([^\]]+)\] ?(.+)$/.exec(p);
  return m ? { datastore: m[1]!, path: m[2]! } : undefined;
}

/** The file's URL on the server the SDK URL names. */
export function datastoreFileUrl(sdk: URL, dcPath: string, p: DatastorePath): URL {
  const url = new URL(`/folder/${p.path.split("/").map(encodeURIComponent).join("/")}`, sdk);
  url.searchParams.set("dcPath", dcPath);
  url.searchParams.set("dsName", p.datastore);
  return url;
}

/**
 * The last maxBytes of a datastore file (all of it when smaller), asked for with a suffix Range
 * request; a server that ignores Range is cut to the same tail as it streams. undefined when
 * the file does not exist (yet).
 */
export async function readDatastoreTail(c: VimClient, url: URL, maxBytes: number): Promise<Buffer | undefined> {
  const get = () => c.request("GET", url, undefined, { Range: `bytes=-${maxBytes}` }, { keepLast: maxBytes });
  let res = await get();
  // the file API answers 401 when the SOAP session has expired: log in again once
  if (res.status === 401 && (await c.renewSession())) res = await get();
  if (res.status === 404) return undefined;
  // an empty file has no byte to satisfy a range with
  if (res.status === 416) return Buffer.alloc(0);
  if (res.status !== 200 && res.status !== 206) throw new DriverError("datastore file", `GET ${url.pathname}: HTTP ${res.status}`);
  return res.body.length > maxBytes ? res.body.subarray(res.body.length - maxBytes) : res.body;
}

// A minimal VIM SOAP client: envelopes built as text (every value escaped), responses parsed
// with fast-xml-parser, the session cookie kept, TLS verification on unless the caller turns
// it off. Credentials are sent in the Login body only and never appear in an error or a log.
import http from "node:http";
import https from "node:https";
import { XMLParser } from "fast-xml-parser";

export interface MoRef {
  type: string;
  value: string;
}

export class VimFault extends Error {
  readonly method: string;
  /** The fault's type without namespace: FileNotFound, InvalidPowerState, NotAuthenticated... */
  readonly faultType: string;
  readonly detail: unknown;
  constructor(method: string, faultType: string, message: string, detail: unknown) {
    super(`${method}: ${faultType}${message ? `: ${message}` : ""}`);
    this.name = "VimFault";
    this.method = method;
    this.faultType = faultType;
    this.detail = detail;
  }
}

/** Calls that change nothing: safe to send again when the connection drops mid-call. */
const READ_ONLY = new Set([
  "RetrieveServiceContent",
  "RetrievePropertiesEx",
  "ContinueRetrievePropertiesEx",
  "FindChild",
  "FindByInventoryPath",
  "ListFilesInGuest",
  "InitiateFileTransferFromGuest",
  "InitiateFileTransferToGuest",
]);

export function esc(s: string | number | boolean): string {
  return String(s).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;").replace(/'/g, "&apos;");
}

export function moXml(tag: string, ref: MoRef): string {
  return `<${tag} type="${esc(ref.type)}">${esc(ref.value)}</${tag}>`;
}

type Node = Record<string, unknown>;

/** fast-xml-parser gives one child as an object and several as an array. */
export function arr<T = Node>(x: unknown): T[] {
  if (x === undefined || x === null || x === "") return [];
  return (Array.isArray(x) ? x : [x]) as T[];
}

function scalar(x: unknown): string {
  return typeof x === "string" || typeof x === "number" || typeof x === "boolean" ? String(x) : "";
}

export function text(x: unknown): string {
  if (x === undefined || x === null) return "";
  if (typeof x === "object") return scalar((x as Node)["#text"]);
  return scalar(x);
}

export function toRef(x: unknown): MoRef {
  const n = x as Node;
  return { type: scalar(n["@type"]), value: text(n) };
}

export function xsiType(x: unknown): string {
  return typeof x === "object" && x !== null ? scalar((x as Node)["@type"]) : "";
}

export interface HttpResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

const parser = new XMLParser({
  ignoreAttributes: false,
  removeNSPrefix: true,
  attributeNamePrefix: "@",
  parseTagValue: false,
  parseAttributeValue: false,
  textNodeName: "#text",
});

export interface VimClientOptions {
  insecure?: boolean;
  /** Per HTTP request. */
  timeoutMs?: number;
  maxSockets?: number;
}

export class VimClient {
  readonly url: URL;
  private readonly agent: http.Agent;
  private readonly lib: typeof http | typeof https;
  private readonly timeoutMs: number;
  private cookie = "";
  private relogin: (() => Promise<void>) | undefined;
  serviceContent: Node = {};

  constructor(url: string, o: VimClientOptions = {}) {
    this.url = new URL(url);
    const https_ = this.url.protocol === "https:";
    this.lib = https_ ? https : http;
    this.agent = https_
      ? new https.Agent({ keepAlive: true, maxSockets: o.maxSockets ?? 16, rejectUnauthorized: !o.insecure })
      : new http.Agent({ keepAlive: true, maxSockets: o.maxSockets ?? 16 });
    this.timeoutMs = o.timeoutMs ?? 120_000;
  }

  /**
   * One HTTP request on the client's agent (TLS settings) with the session cookie. keepLast
   * bounds the memory a large answer takes: only its last keepLast bytes are kept.
   */
  request(method: string, url: URL, body?: Buffer | string, headers: Record<string, string> = {}, o: { keepLast?: number } = {}): Promise<HttpResponse> {
    return new Promise((resolve, reject) => {
      const req = this.lib.request(
        url,
        {
          method,
          agent: this.agent,
          headers: { ...(this.cookie ? { Cookie: this.cookie } : {}), ...(body !== undefined ? { "Content-Length": String(Buffer.byteLength(body)) } : {}), ...headers },
          timeout: this.timeoutMs,
        },
        (res) => {
          const parts: Buffer[] = [];
          let size = 0;
          res.on("data", (d: Buffer) => {
            parts.push(d);
            size += d.length;
            while (o.keepLast !== undefined && parts.length > 1 && size - parts[0]!.length >= o.keepLast) size -= parts.shift()!.length;
          });
          res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(parts) }));
          res.on("error", reject);
        },
      );
      req.on("timeout", () => req.destroy(new Error(`${method} ${url.host}${url.pathname}: no answer within ${this.timeoutMs} ms`)));
      req.on("error", reject);
      if (body !== undefined) req.write(body);
      req.end();
    });
  }

  async call(method: string, self: MoRef, inner = "", retry = true): Promise<unknown> {
    const env =
      `<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" ` +
      `xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns="urn:vim25">` +
      `<soapenv:Body><${method}>${moXml("_this", self)}${inner}</${method}></soapenv:Body></soapenv:Envelope>`;
    let res: HttpResponse | undefined;
    for (let attempt = 1; !res; attempt++) {
      try {
        res = await this.request("POST", this.url, env, { "Content-Type": "text/xml; charset=utf-8", SOAPAction: "urn:vim25/6.0" });
      } catch (e) {
        // a dropped keep-alive connection or a server that reset one request: retry reads
        if (!READ_ONLY.has(method) || attempt >= 4) throw new Error(`${method}: ${this.url.host}: ${(e as Error).message}`, { cause: e });
        await new Promise((r) => setTimeout(r, 200 * attempt));
      }
    }
    const sc = res.headers["set-cookie"];
    if (sc?.[0]) this.cookie = sc[0].split(";")[0] ?? "";
    let doc: Node;
    try {
      doc = parser.parse(res.body.toString("utf8")) as Node;
    } catch (e) {
      throw new Error(`${method}: unreadable answer (HTTP ${res.status}): ${(e as Error).message}`);
    }
    const body = ((doc.Envelope as Node | undefined)?.Body ?? {}) as Node;
    const fault = body.Fault as Node | undefined;
    if (fault) {
      const detail = (fault.detail ?? {}) as Node;
      const key = Object.keys(detail).find((k) => !k.startsWith("@") && k !== "#text");
      const faultNode = key ? (detail[key] as Node) : undefined;
      const type = (faultNode ? xsiType(faultNode) : "") || (key ? key.replace(/Fault$/, "") : "") || "SOAPFault";
      // a long migration outlives the session: log in again once and retry
      if (type === "NotAuthenticated" && retry && this.relogin && method !== "Login") {
        await this.relogin();
        return this.call(method, self, inner, false);
      }
      throw new VimFault(method, type, text(fault.faultstring), faultNode);
    }
    if (res.status >= 400) throw new Error(`${method}: HTTP ${res.status}`);
    return (body[`${method}Response`] as Node | undefined)?.returnval;
  }

  ref(name: string): MoRef {
    const r = this.serviceContent[name];
    if (!r) throw new Error(`the server has no ${name}`);
    return toRef(r);
  }

  async connect(user: string, password: string): Promise<void> {
    this.serviceContent = (await this.call("RetrieveServiceContent", { type: "ServiceInstance", value: "ServiceInstance" })) as Node;
    const login = async () => {
      await this.call("Login", this.ref("sessionManager"), `<userName>${esc(user)}</userName><password>${esc(password)}</password>`);
    };
    await login();
    this.relogin = login;
  }

  /** Logs in again (a session that expired); false when this client never logged in. */
  async renewSession(): Promise<boolean> {
    if (!this.relogin) return false;
    await this.relogin();
    return true;
  }

  async logout(): Promise<void> {
    try {
      await this.call("Logout", this.ref("sessionManager"));
    } catch {
      // the session may be gone already
    }
    this.agent.destroy();
  }

  /** Properties of one object, by path; missing (unset) properties are absent. */
  async props(obj: MoRef, paths: string[]): Promise<Record<string, unknown>> {
    const r = (await this.call(
      "RetrievePropertiesEx",
      this.ref("propertyCollector"),
      `<specSet><propSet><type>${esc(obj.type)}</type>${paths.map((p) => `<pathSet>${esc(p)}</pathSet>`).join("")}</propSet>` +
        `<objectSet>${moXml("obj", obj)}</objectSet></specSet><options/>`,
    )) as Node | undefined;
    const out: Record<string, unknown> = {};
    for (const o of arr(r?.objects)) for (const p of arr(o.propSet)) out[text(p.name)] = p.val;
    return out;
  }

  /** Properties of every object of a type under a container (one round trip). */
  async propsOfAll(type: string, paths: string[]): Promise<{ obj: MoRef; props: Record<string, unknown> }[]> {
    const view = toRef(await this.call("CreateContainerView", this.ref("viewManager"), `${moXml("container", this.ref("rootFolder"))}<type>${esc(type)}</type><recursive>true</recursive>`));
    try {
      const out: { obj: MoRef; props: Record<string, unknown> }[] = [];
      let r = (await this.call(
        "RetrievePropertiesEx",
        this.ref("propertyCollector"),
        `<specSet><propSet><type>${esc(type)}</type>${paths.map((p) => `<pathSet>${esc(p)}</pathSet>`).join("")}</propSet>` +
          `<objectSet>${moXml("obj", view)}<skip>true</skip><selectSet xsi:type="TraversalSpec"><type>ContainerView</type><path>view</path><skip>false</skip></selectSet></objectSet></specSet><options/>`,
      )) as Node | undefined;
      for (;;) {
        for (const o of arr(r?.objects)) {
          const props: Record<string, unknown> = {};
          for (const p of arr(o.propSet)) props[text(p.name)] = p.val;
          out.push({ obj: toRef(o.obj), props });
        }
        const token = r?.token;
        if (!token) break;
        r = (await this.call("ContinueRetrievePropertiesEx", this.ref("propertyCollector"), `<token>${esc(text(token))}</token>`)) as Node | undefined;
      }
      return out;
    } finally {
      await this.call("DestroyView", view).catch(() => undefined);
    }
  }

  /** Waits for a task; returns its result or throws its error as a VimFault. */
  async waitTask(task: MoRef, what: string, timeoutMs = 600_000, pollMs = 200): Promise<unknown> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const p = await this.props(task, ["info.state", "info.result", "info.error"]);
      const state = text(p["info.state"]);
      if (state === "success") return p["info.result"];
      if (state === "error") {
        const e = (p["info.error"] ?? {}) as Node;
        const fault = e.fault as Node | undefined;
        throw new VimFault(what, (fault && xsiType(fault)) || "TaskError", text(e.localizedMessage), fault);
      }
      if (Date.now() > deadline) throw new Error(`${what}: the task did not finish within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, pollMs));
    }
  }
}

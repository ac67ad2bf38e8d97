import { test } from "node:test";
import assert from "node:assert/strict";
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { createServer } from "node:http";
import { vsphereOptionsFromEnv } from "../../../src/manager/drivers/vsphere/config.ts";
import { arr, esc, text, toRef, VimClient, VimFault, xsiType } from "../../../src/manager/drivers/vsphere/soap.ts";
import { Progress } from "../../../src/manager/progress.ts";
import { Writable } from "node:stream";

test("vsphere credentials: environment or an owner-only file; never optional; TLS verification on unless --insecure", async () => {
  const env = { OSAM_VSPHERE_URL: "https://vc.example/sdk", OSAM_VSPHERE_USER: "admin", OSAM_VSPHERE_PASSWORD: "pw", OSAM_GUEST_PASSWORD: "gpw" };
  const o = await vsphereOptionsFromEnv(env, {});
  assert.deepEqual([o.url, o.user, o.password, o.guestUser, o.guestPassword, o.insecure], ["https://vc.example/sdk", "admin", "pw", "root", "gpw", false]);
  assert.equal((await vsphereOptionsFromEnv(env, { insecure: true })).insecure, true);
  await assert.rejects(vsphereOptionsFromEnv({ OSAM_VSPHERE_URL: "https://x/sdk" }, {}), /OSAM_VSPHERE_USER and OSAM_VSPHERE_PASSWORD, or --vsphere-credentials/);
  await assert.rejects(vsphereOptionsFromEnv({}, {}), /--vsphere-url or OSAM_VSPHERE_URL/);
  await assert.rejects(vsphereOptionsFromEnv({ ...env, OSAM_VSPHERE_EXTRA_CONFIG: "[1]" }, {}), /OSAM_VSPHERE_EXTRA_CONFIG/);
  const dir = mkdtempSync(join(tmpdir(), "osam-cred-"));
  try {
    const f = join(dir, "cred.json");
    writeFileSync(f, JSON.stringify({ user: "fileuser", password: "filepw", guestUser: "fixup", guestPassword: "g" }));
    chmodSync(f, 0o644);
    await assert.rejects(vsphereOptionsFromEnv({ OSAM_VSPHERE_URL: "https://x/sdk" }, { credentialsFile: f }), /readable by others.*chmod 600/);
    chmodSync(f, 0o600);
    const fo = await vsphereOptionsFromEnv({ OSAM_VSPHERE_URL: "https://x/sdk" }, { credentialsFile: f });
    assert.deepEqual([fo.user, fo.password, fo.guestUser], ["fileuser", "filepw", "fixup"]);
    writeFileSync(f, "user=x password=secret-in-bad-json");
    await assert.rejects(vsphereOptionsFromEnv({ OSAM_VSPHERE_URL: "https://x/sdk" }, { credentialsFile: f }), (e: unknown) => !(e as Error).message.includes("secret-in-bad-json"));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("SOAP client: envelope escaping, cookie, faults typed, single/multiple children, no password in errors", async () => {
  const seen: string[] = [];
  const server = createServer((req, res) => {
    let body = "";
    req.on("data", (d: Buffer) => (body += d.toString()));
    req.on("end", () => {
      seen.push(`${req.headers.cookie ?? "-"} ${body}`);
      res.setHeader("Content-Type", "text/xml");
      const env = (inner: string) => `<?xml version="1.0"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body>${inner}</soapenv:Body></soapenv:Envelope>`;
      if (body.includes("<RetrieveServiceContent>")) {
        res.end(env(`<RetrieveServiceContentResponse xmlns="urn:vim25"><returnval><sessionManager type="SessionManager">SessionManager</sessionManager><propertyCollector type="PropertyCollector">pc</propertyCollector></returnval></RetrieveServiceContentResponse>`));
      } else if (body.includes("<Login>")) {
        if (body.includes("<password>bad&lt;pw</password>")) {
          res.statusCode = 500;
          res.end(env(`<soapenv:Fault><faultcode>ServerFaultCode</faultcode><faultstring>Cannot complete login due to an incorrect user name or password.</faultstring><detail><InvalidLoginFault xmlns="urn:vim25" xsi:type="InvalidLogin"></InvalidLoginFault></detail></soapenv:Fault>`));
          return;
        }
        res.setHeader("Set-Cookie", 'vmware_soap_session="abc"; Path=/; HttpOnly');
        res.end(env(`<LoginResponse xmlns="urn:vim25"><returnval><key>k</key></returnval></LoginResponse>`));
      } else if (body.includes("<RetrievePropertiesEx>")) {
        res.end(
          env(
            `<RetrievePropertiesExResponse xmlns="urn:vim25"><returnval><objects><obj type="VirtualMachine">vm-1</obj><propSet><name>config.hardware.device</name><val xsi:type="ArrayOfVirtualDevice"><VirtualDevice xsi:type="VirtualDisk"><key>2000</key><unitNumber>15</unitNumber></VirtualDevice></val></propSet><propSet><name>runtime.powerState</name><val xsi:type="VirtualMachinePowerState">poweredOn</val></propSet></objects></returnval></RetrievePropertiesExResponse>`,
          ),
        );
      } else res.end(env(`<soapenv:Fault><faultstring>unknown</faultstring></soapenv:Fault>`));
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as { port: number }).port;
  try {
    const bad = new VimClient(`http://127.0.0.1:${port}/sdk`);
    await assert.rejects(bad.connect("u", "bad<pw"), (e: unknown) => e instanceof VimFault && e.faultType === "InvalidLogin" && !e.message.includes("bad<pw"));
    const c = new VimClient(`http://127.0.0.1:${port}/sdk`);
    await c.connect("u", "pw");
    const p = await c.props({ type: "VirtualMachine", value: "vm-1" }, ["config.hardware.device", "runtime.powerState"]);
    assert.equal(text(p["runtime.powerState"]), "poweredOn");
    const devs = arr<Record<string, unknown>>((p["config.hardware.device"] as Record<string, unknown>).VirtualDevice);
    assert.equal(devs.length, 1, "a single child still comes back as a list");
    assert.equal(xsiType(devs[0]), "VirtualDisk");
    assert.equal(text(devs[0]?.unitNumber), "15", "values stay strings (no number parsing)");
    assert.ok(seen.at(-1)?.startsWith('vmware_soap_session="abc" '), "the session cookie is sent back");
    assert.deepEqual(toRef({ "@type": "Task", "#text": "task-1" }), { type: "Task", value: "task-1" });
    assert.equal(esc(`a<b>&"c'`), "a&lt;b&gt;&amp;&quot;c&apos;");
  } finally {
    server.close();
  }
});

test("progress: one line per step change without a terminal; JSON events with --json", () => {
  let out = "";
  const sink = new Writable({
    write(chunk: Buffer, _e, cb) {
      out += chunk.toString();
      cb();
    },
  });
  const p = new Progress(sink, false);
  p.onEvent({ type: "migration-start", id: "m1", time: "t", resumed: true, step: "wait-end", index: 6, total: 15 });
  p.onEvent({ type: "step-start", id: "m1", time: "t", step: "wait-end", index: 6, total: 15, elapsedMs: 65_000 });
  p.onEvent({ type: "migration-done", id: "m1", time: "t", status: "failed", elapsedMs: 3_725_000, message: "step wait-end timed out after 3600 s", step: "wait-end" });
  p.stop();
  assert.equal(out, "m1: resuming at step 6/15 wait-end\n[01:05] m1: step 6/15 wait-end\n[1:02:05] m1: FAILED: step wait-end timed out after 3600 s\n");
  out = "";
  const j = new Progress(sink, true);
  j.onEvent({ type: "step-done", id: "m2", time: "t", step: "create-vm", index: 1, total: 15, elapsedMs: 5, stepMs: 4 });
  j.stop();
  assert.deepEqual(JSON.parse(out), { type: "step-done", id: "m2", time: "t", step: "create-vm", index: 1, total: 15, elapsedMs: 5, stepMs: 4 });
});

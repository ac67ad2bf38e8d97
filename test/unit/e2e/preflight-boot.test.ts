// The e2e harness's preflight on the booted source (test/e2e/lib/preflight-boot.ts): what it
// reads back from the serial console, and the comparison of preflight's verdict with the
// migration's result.json. A source boot takes minutes under TCG; this shows in seconds that
// the parsing survives console noise and that every kind of mismatch is caught.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { runPreflight } from "../../../src/preflight/preflight.ts";
import { NetworkInterfaceMap, Result, ReplicaDiskMap } from "../../../src/protocol/schemas.ts";
import type { PreflightReport } from "../../../src/protocol/preflight.ts";
import { parsePreflightSerial, preflightMismatches, type SourcePreflight } from "../../e2e/lib/preflight-boot.ts";
import { SAMPLE } from "../../helpers/tree.ts";

const b64 = (s: string) => Buffer.from(s).toString("base64").replace(/.{76}/g, "$&\n").trimEnd();

function serialOf(report: string, writes: string): string {
  return [
    "[   78.7] EXT4-fs (vdb): mounted filesystem with ordered data mode.",
    "OSAM-PF-START 78.57",
    "OSAM-PF-NOTE 1 of 1 addresses up after 0 s; uptime 94.27\r",
    "OSAM-PF-EXIT 0",
    "OSAM-PF-SECONDS 65.1",
    "OSAM-PF-JSON-BEGIN",
    // a kernel line in the middle of a block is no base64 and is left out
    ...b64(report).split("\n").flatMap((l, i) => (i === 1 ? [l, "[  123.83] kvm: Nested Virtualization enabled"] : [l])),
    "OSAM-PF-JSON-END",
    "OSAM-PF-STDERR-BEGIN",
    "OSAM-PF-STDERR-END",
    "OSAM-PF-WRITES-BEGIN",
    b64(writes),
    "OSAM-PF-WRITES-END",
    "OSAM-PF-DONE",
  ].join("\n");
}

async function sampleReport(): Promise<PreflightReport> {
  const inputs = join(SAMPLE, "inputs");
  const nics = NetworkInterfaceMap.parse(JSON.parse(await readFile(join(inputs, "network-interface-map.json"), "utf8")));
  nics.interfaces = nics.interfaces.filter((n) => n.sourceName !== "ens4");
  const disks = ReplicaDiskMap.parse(JSON.parse(await readFile(join(inputs, "replica-disk-map.json"), "utf8")));
  return runPreflight({ root: join(SAMPLE, "root"), maps: { disks, network: nics } });
}

function resultWith(status: "succeeded" | "failed", warnings: string[]): Result {
  return Result.parse({ version: "0.1.0", migrationId: "t", status, code: status === "succeeded" ? 0 : 300, message: status, startedAt: "2026-11-30T18:00:00.000Z", finishedAt: "2026-11-30T18:01:00.000Z", durationMs: 60000, guest: {}, steps: [], warnings });
}

test("the report, the exit status, the time and the writes come back from the console", async () => {
  const report = await sampleReport();
  const writes = ["3c3", "< /etc/fstab|f|120|644|0|0|1.0|1.0|", "---", "> /etc/fstab|f|121|644|0|0|2.0|2.0|", "> /var/log/journal/x/system.journal|f|9|640|0|0|2.0|2.0|", "> /run|d|440|755|0|0|2.0|2.0|", "< /var/tmp|d|4096|1777|0|0|1.5|1.5|", "> /var/tmp|d|4096|1777|0|0|2.5|2.5|", "> /var/tmpfoo|f|1|644|0|0|2.5|2.5|"].join("\n");
  const pf = parsePreflightSerial(serialOf(JSON.stringify(report, null, 2), writes));
  assert.equal(pf.error, undefined);
  assert.deepEqual(pf.report, report);
  assert.equal(pf.exitCode, 0);
  assert.equal(pf.preflightSeconds, 65.1);
  // the journal, the /run mount point and /var/tmp's times are the system's; /etc/fstab is a write
  assert.deepEqual(pf.writes, ["/etc/fstab|f|120|644|0|0|1.0|1.0|", "/etc/fstab|f|121|644|0|0|2.0|2.0|", "/var/tmpfoo|f|1|644|0|0|2.5|2.5|"]);
  assert.match(parsePreflightSerial("OSAM-PF-START 80.1\nOSAM-PF-JSON-BEGIN\neyJ2\n").error ?? "", /did not finish/);
  assert.match(parsePreflightSerial("[ 1.0] Linux version 6.1\n").error ?? "", /never started/);
  assert.match(parsePreflightSerial(serialOf("{", "")).error ?? "", /no valid report/);
});

test("the verdict and each warning are matched with result.json, both ways", async () => {
  const report = await sampleReport();
  const pf: SourcePreflight = { report, exitCode: 0, bootSeconds: 1, serialPath: "x", writes: [] };
  const warned = report.findings.filter((f) => f.severity === "warning");
  assert.ok(warned.some((f) => f.code === "PLAN_WARNING" && /ens4/.test(f.why)), JSON.stringify(warned));
  const same = resultWith("succeeded", warned.map((f) => f.why));
  assert.deepEqual(preflightMismatches(pf, same), []);
  // stage 1 warned about something preflight did not foresee
  const more = preflightMismatches(pf, resultWith("succeeded", [...same.warnings, "residue-audit: /etc/hosts:3: vda"]));
  assert.deepEqual(more, ['result.json warns "residue-audit: /etc/hosts:3: vda", which preflight did not foresee']);
  // preflight warned about something stage 1 did not report
  const fewer = preflightMismatches(pf, resultWith("succeeded", same.warnings.filter((w) => !/ens4/.test(w))));
  assert.ok(fewer.length === 1 && /ens4.*which result\.json does not report/.test(fewer[0]!), JSON.stringify(fewer));
  // a failed stage 1 needs blocked; a blocked verdict needs exit 1
  assert.match(preflightMismatches(pf, resultWith("failed", same.warnings)).join("\n"), /ready with warnings, but stage 1 failed with code 300/);
  assert.match(preflightMismatches({ ...pf, exitCode: 1 }, same).join("\n"), /exit status 1 for ready with warnings/);
  const blocked = { ...report, verdict: "blocked" as const, findings: [...report.findings, { code: "LEFTOVER_BLOCKER" as const, severity: "blocker" as const, file: "/etc/fstab", line: 2, why: "vdb1", todo: "-" }] };
  assert.match(preflightMismatches({ ...pf, report: blocked, exitCode: 1 }, same).join("\n"), /blocked, but stage 1 succeeded/);
  assert.deepEqual(preflightMismatches({ ...pf, report: undefined, error: "no boot" }, same), ["no preflight report: no boot"]);
});

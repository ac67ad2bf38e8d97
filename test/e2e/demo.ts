// npm run demo: one full migration of a test image (default deb12-itools) on the embedded QEMU
// driver, with a readable progress display, then where the logs and result.json went.
// Usage: node test/e2e/demo.ts [VARIANT]
import { VARIANTS, type Variant } from "../helpers/images.ts";
import { runE2eMigration, runUnfixedBoot } from "./lib/migration.ts";

const variant = (process.argv[2] ?? "deb12-itools") as Variant;
if (!(VARIANTS as readonly string[]).includes(variant)) {
  console.error(`unknown variant ${variant}; one of ${VARIANTS.join(", ")}`);
  process.exit(2);
}
const t0 = Date.now();
const clock = () => {
  const s = Math.round((Date.now() - t0) / 1000);
  return `${String(Math.floor(s / 60)).padStart(2, "0")}:${String(s % 60).padStart(2, "0")}`;
};
const say = (l: string) => console.log(`[${clock()}] ${l}`);
const bold = (s: string) => (process.stdout.isTTY ? `\x1b[1m${s}\x1b[0m` : s);

console.log(bold(`osam-fixup demo: migrate ${variant} (built as on KVM) onto emulated VMware hardware (PVSCSI + vmxnet3)`));
say("step 1/2: the same guest, unfixed, on the VMware hardware (expected to fail)");
const unfixed = await runUnfixedBoot(variant, { log: (l) => say(`  ${l}`) });
say(unfixed.marker ? "  unexpected: the unfixed guest booted" : `  as expected it does not boot (${unfixed.failure ?? unfixed.outcome}); serial: ${unfixed.serialPath}`);

say("step 2/2: the migration: fixup disk at scsi0:15, stage 1, stage 2, boot");
const run = await runE2eMigration(variant, { log: (l) => say(`  ${l}`), onProgress: (l) => say(`    agent: ${l.replace(/^\S+Z /, "")}`) });
const m = run.marker;
console.log("");
console.log(bold("result"));
console.log(`  stage 1:       ${run.result ? `${run.result.status} (code ${run.result.code}) ${run.result.message}` : "no result.json"}`);
console.log(`  stage 2:       ${run.stage2}`);
if (m) {
  console.log(`  root:          ${m.root} (${m.rootFstype}) on ${m.rootBlock}, driver ${m.rootDriver}, SCSI ${m.rootHctl || "-"}`);
  console.log(`  interfaces:    ${m.links.map((l) => `${l.name} ${l.mac} (${l.driver}) ${(m.ipv4[l.name] ?? []).join(",") || "no address"}`).join("; ")}`);
  console.log(`  default target ${m.defaultTarget}; virt ${m.virt}; leftover osam files: ${m.osamFiles.length ? m.osamFiles.join(" ") : "none"}`);
} else {
  console.log(`  the migrated guest printed no marker${run.flowError ? ` (${run.flowError.split("\n")[0]})` : ""}`);
}
console.log(`  timings (s):   ${Object.entries(run.timings).map(([k, v]) => `${k} ${v}`).join(", ")}`);
console.log("");
console.log(bold("files"));
console.log(`  run directory: ${run.runDir}`);
for (const [k, v] of Object.entries(run.logs)) console.log(`  ${k.padEnd(14)} ${v}`);
const ok = !run.flowError && run.result?.status === "succeeded" && m !== undefined && m.links.every((l) => /^eth\d+$/.test(l.name)) && m.rootDriver === run.expectRootDriver;
console.log(bold(ok ? `migration of ${variant} succeeded in ${clock()}` : `migration of ${variant} did not fully succeed (${clock()}); see the files above`));
process.exit(ok ? 0 : 1);

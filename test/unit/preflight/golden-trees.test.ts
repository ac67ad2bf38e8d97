// preflight against every golden tree, as a root (issue 14): with the case's own maps and, as
// the source's inventory, what blkid reports for its disks (inputs/devices.json: on a live
// source collect lists the same UUIDs), the verdict must agree with what stage 1 does to the
// case. A case stage 1 refuses (expected/error.txt, code N) is `blocked`, and its blocker names
// code N; a storage case stage 1 fixes is not blocked. The network and sentinel cases hold only
// the files of their area (their harness runs their steps alone): there the initramfs tool is
// missing (code 311), which must then be the only blocker, unless the case is refused earlier.
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { NOT_ATTACHED } from "../../../src/bootloader/grub.ts";
import { runPreflight } from "../../../src/preflight/preflight.ts";
import { CODES } from "../../../src/protocol/codes.ts";
import { PreflightReport } from "../../../src/protocol/preflight.ts";
import { SourceBlockDevice, type SystemConfiguration } from "../../../src/protocol/schemas.ts";
import { loadCaseInputs } from "../../helpers/golden.ts";
import { REPO } from "../../helpers/tree.ts";

const GOLDEN = join(REPO, "test/golden");
const WHOLE_GUESTS = "storage";

interface BlkidDevice {
  source: string;
  uuid?: string;
  partuuid?: string;
  fsType?: string;
}

/** devices.json as collect would list it: a value the inventory's schema refuses is left out (an LVM PV's UUID). */
function inventoryOf(devices: BlkidDevice[]): NonNullable<SystemConfiguration["source"]["blockDevices"]> {
  return devices.flatMap((d) => {
    const full = { device: d.source, uuid: d.uuid, partuuid: d.partuuid, fsType: d.fsType };
    for (const c of [full, { ...full, uuid: undefined }, { ...full, uuid: undefined, partuuid: undefined }]) {
      const r = SourceBlockDevice.safeParse(JSON.parse(JSON.stringify(c)));
      if (r.success) return [r.data];
    }
    return [];
  });
}

const cases = readdirSync(GOLDEN, { withFileTypes: true })
  .filter((a) => a.isDirectory())
  .flatMap((a) => readdirSync(join(GOLDEN, a.name)).map((c) => ({ area: a.name, name: c, dir: join(GOLDEN, a.name, c) })))
  .filter((c) => existsSync(join(c.dir, "root")));

test("there are golden trees to check, refused ones among them", () => {
  assert.ok(cases.length >= 40, `only ${cases.length} golden cases found under ${GOLDEN}`);
  assert.ok(cases.filter((c) => existsSync(join(c.dir, "expected/error.txt"))).length >= 8);
});

for (const c of cases) {
  test(`preflight on the golden tree ${c.area}/${c.name}`, async () => {
    const inputs = await loadCaseInputs(join(c.dir, "inputs"));
    const devicesFile = join(c.dir, "inputs/devices.json");
    const known = inputs.system.source.blockDevices ?? [];
    const blkid = existsSync(devicesFile) ? inventoryOf(JSON.parse(readFileSync(devicesFile, "utf8")) as BlkidDevice[]) : [];
    const source: SystemConfiguration["source"] = { ...inputs.system.source, blockDevices: [...known, ...blkid.filter((b) => !known.some((k) => k.device === b.device))] };
    const r = PreflightReport.parse(await runPreflight({ root: join(c.dir, "root"), source, target: inputs.system.target, maps: { disks: inputs.disks, network: inputs.network } }));
    const blockers = r.findings.filter((f) => f.severity === "blocker");
    const shown = JSON.stringify(blockers.map((f) => `${f.code}: ${f.why}`));
    // the boot disk is attached under its target name on the fixup VM only: no warning of it here
    assert.ok(!r.findings.some((f) => f.why.includes(NOT_ATTACHED)), JSON.stringify(r.findings.filter((f) => f.why.includes(NOT_ATTACHED))));
    const errorFile = join(c.dir, "expected/error.txt");
    if (existsSync(errorFile)) {
      const code = /^code (\d+):/.exec(readFileSync(errorFile, "utf8"))?.[1];
      assert.ok(code, `${errorFile} names no code`);
      assert.equal(r.verdict, "blocked", `stage 1 refuses this case with code ${code}, preflight says ${r.verdict}`);
      assert.ok(blockers.some((f) => f.code === "STAGE1_WOULD_FAIL" && f.why.includes(`code ${code}`)), `no blocker names code ${code}: ${shown}`);
    } else if (c.area === WHOLE_GUESTS) {
      assert.notEqual(r.verdict, "blocked", `stage 1 fixes this case, preflight blocks it: ${shown}`);
    } else {
      const missing = `code ${CODES.INITRD_TOOL_MISSING.code}`;
      assert.ok(blockers.length > 0 && blockers.every((f) => f.code === "STAGE1_WOULD_FAIL" && f.why.includes(missing)), `a tree of ${c.area} files only must be blocked by the missing initramfs tool (${missing}) alone: ${shown}`);
    }
  });
}

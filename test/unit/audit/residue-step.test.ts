// The residue audit as a stage-1 step: a blocker stops apply with code 206, every original is
// restored (the tree byte-identical), and options.acceptLeftovers lets it through as a warning.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { runStage1 } from "../../../src/agent/stage1.ts";
import { loadInputs } from "../../../src/protocol/inputs.ts";
import { GUEST_DATA_DIR } from "../../../src/protocol/files.ts";
import { Logger } from "../../../src/util/log.ts";
import { SAMPLE, copyTree, diffPrints, fingerprint, removeTree } from "../../helpers/tree.ts";

const UNIT = "[Mount]\nWhat=/dev/vdb2\nWhere=/srv/backup\nType=ext4\n";

async function guestWithMountUnit(): Promise<string> {
  const d = await copyTree(join(SAMPLE, "root"), "osam-residue-step-");
  await mkdir(join(d, "etc/systemd/system"), { recursive: true });
  await writeFile(join(d, "etc/systemd/system/srv-backup.mount"), UNIT);
  return d;
}

test("a blocker stops apply before the initramfs with code 206, naming file:line, and the guest is as it was", async () => {
  const d = await guestWithMountUnit();
  try {
    const before = await fingerprint(d);
    const inputs = await loadInputs(join(SAMPLE, "inputs"));
    const { result } = await runStage1({ root: d, inputs, mode: "apply", log: new Logger(), skip: ["initrd", "bootloader"] });
    assert.equal(result.status, "failed");
    assert.equal(result.code, 206);
    assert.equal(result.step, "residue-audit");
    assert.match(result.message, /\/etc\/systemd\/system\/srv-backup\.mount:2: \/dev\/vdb2: .*acceptLeftovers: \["\/etc\/systemd\/system\/srv-backup\.mount:2"\]/);
    const after = await fingerprint(d, (rel) => rel.startsWith(GUEST_DATA_DIR.slice(1)) || rel === "opt" || rel.startsWith("opt/"));
    assert.deepEqual(diffPrints(new Map([...before].filter(([k]) => !k.startsWith("opt"))), after), []);
  } finally {
    await removeTree(d);
  }
});

test("an accepted leftover is a warning, and stage 1 goes on", async () => {
  const d = await guestWithMountUnit();
  try {
    const inputs = await loadInputs(join(SAMPLE, "inputs"));
    inputs.system.options = { ...inputs.system.options, acceptLeftovers: ["/etc/systemd/system/srv-backup.mount:2"] };
    const { result } = await runStage1({ root: d, inputs, mode: "plan", log: new Logger(), skip: ["initrd", "bootloader"] });
    assert.equal(result.status, "succeeded", result.message);
    assert.ok(result.warnings.some((w) => /srv-backup\.mount:2: \/dev\/vdb2: .*accepted in options\.acceptLeftovers/.test(w)), result.warnings.join("\n"));
  } finally {
    await removeTree(d);
  }
});

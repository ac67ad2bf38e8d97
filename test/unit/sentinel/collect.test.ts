// osam-fixup collect on this machine: the script's output validates against the source
// schema under dash and busybox sh, the CLI prints it, and invalid output is refused.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execa } from "execa";
import { join } from "node:path";
import { CollectError, parseCollectOutput, runCollect } from "../../../src/cli/commands/collect.ts";
import { COLLECT_SH } from "../../../src/sentinel/embedded.ts";
import { REPO } from "../../helpers/tree.ts";

for (const shell of [["/bin/sh"], ["/usr/bin/dash"], ["/bin/busybox", "sh"]]) {
  test(`collect under ${shell.join(" ")} prints a valid source inventory`, async () => {
    const { source } = await runCollect({ shell });
    assert.ok(["bios", "uefi"].includes(source.firmware));
    assert.ok(source.os?.id, "os-release read");
    for (const i of source.interfaces ?? []) assert.notEqual(i.name, "lo");
  });
}

test("the CLI prints the inventory; --print-script prints the embedded script", async () => {
  const cli = join(REPO, "src/cli/main.ts");
  const r = await execa(process.execPath, [cli, "collect"], { reject: false });
  assert.equal(r.exitCode, 0, r.stderr);
  assert.deepEqual(parseCollectOutput(r.stdout), JSON.parse(r.stdout));
  const p = await execa(process.execPath, [cli, "collect", "--print-script"]);
  assert.equal(p.stdout + "\n", COLLECT_SH);
  const bad = await execa(process.execPath, [cli, "collect", "--shell", "sh"], { reject: false });
  assert.equal(bad.exitCode, 2);
});

test("output that is not JSON or breaks the schema is refused, naming the field", () => {
  assert.throws(() => parseCollectOutput("not json"), CollectError);
  assert.throws(() => parseCollectOutput(JSON.stringify({ firmware: "bios", interfaces: [{ name: "eth0", mac: "zz" }] })), /interfaces\[0\]\.mac/);
  assert.throws(() => parseCollectOutput(JSON.stringify({ firmware: "bios", extra: 1 })), CollectError);
  assert.deepEqual(parseCollectOutput(JSON.stringify({ firmware: "uefi", interfaces: [{ name: "eth0", mac: "00:50:56:AA:BB:CC", addresses: ["10.0.0.5/24"] }] })).interfaces?.[0]?.mac, "00:50:56:aa:bb:cc");
});

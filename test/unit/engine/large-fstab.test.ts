// Issue 12, kind 8: the plan of a very large fstab. The diff used to be quadratic (1 MB took
// minutes); a 1,000,000-line fstab must now plan and print. No timed assertion here: the time
// and peak memory are printed by `npm run bench`. The patch is checked by applying it with an
// applier of its own, independent of the code that made it.
import { test } from "node:test";
import assert from "node:assert/strict";
import { planLargeFstab, LARGE_FSTAB_LINES } from "../../../bench/large-fstab.ts";
import { applyUnifiedDiff } from "../../helpers/patch.ts";
import { diffTexts } from "../../../src/engine/line-diff.ts";
import { createTwoFilesPatch } from "diff";

test(`a ${LARGE_FSTAB_LINES.toLocaleString("en")}-line fstab plans, and its diff turns the old file into the new one`, async () => {
  const r = await planLargeFstab();
  assert.equal(r.status, "succeeded", r.message);
  assert.equal(r.before.split("\n").length - 1, LARGE_FSTAB_LINES + r.headerLines);
  const fstabPatch = r.patches.get("/etc/fstab");
  assert.ok(fstabPatch, "the plan shows the fstab change");
  assert.equal(applyUnifiedDiff(r.before, fstabPatch), r.after, "the printed diff applies to the old fstab and gives the new one");
  const removed = fstabPatch.split("\n").filter((l) => l.startsWith("-") && !l.startsWith("---"));
  const added = fstabPatch.split("\n").filter((l) => l.startsWith("+") && !l.startsWith("+++"));
  assert.equal(removed.length, r.changedLines, "exactly the changed lines are shown as removed");
  assert.equal(added.length, r.changedLines, "and as added");
  assert.ok(removed.every((l) => l.startsWith("-/dev/vd")), "only lines naming source disks");
  assert.ok(added.every((l) => l.startsWith("+UUID=")), "each now by UUID");
});

test("large diffs that are not line-for-line still apply: insertions, deletions, blocks with nothing in common", async () => {
  let seed = 7;
  const rnd = (n: number) => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff), seed % n);
  const words = ["", "a", "b", "# c", "/dev/vda1 / ext4 defaults 0 1", "UUID=x / ext4 defaults 0 1"];
  for (let round = 0; round < 6; round++) {
    const a: string[] = Array.from({ length: 20000 + rnd(5000) }, () => words[rnd(words.length)]! + (rnd(4) ? "" : String(rnd(100))));
    const b = [...a];
    for (let k = 0; k < 3000; k++) {
      const p = rnd(b.length);
      const op = rnd(4);
      if (op === 0) b.splice(p, 1 + rnd(3));
      else if (op === 1) b.splice(p, 0, ...Array.from({ length: 1 + rnd(40) }, () => `new ${rnd(1000)}`));
      else if (op === 2) b[p] = `changed ${rnd(1000)}`;
      else b.splice(p, 80, ...Array.from({ length: 1 + rnd(80) }, () => `block ${rnd(1000)}`));
    }
    const before = a.join("\n") + (round % 2 ? "" : "\n");
    const after = b.join("\n") + (round % 3 ? "\n" : "");
    assert.equal(applyUnifiedDiff(before, diffTexts("a/f", "b/f", before, after)), after, `round ${round}`);
  }
});

test("small diffs read exactly as jsdiff writes them (the plan of an ordinary file is unchanged)", () => {
  let seed = 11;
  const rnd = (n: number) => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff), seed % n);
  const words = ["a", "b", "c", "", "x y", "UUID=1 / ext4", "/dev/vda1 / ext4"];
  const text = (n: number) => Array.from({ length: n }, () => words[rnd(words.length)]!).join("\n") + (n && rnd(3) ? "\n" : "");
  let compared = 0;
  for (let i = 0; i < 3000; i++) {
    const a = text(rnd(30));
    const b = rnd(3) ? a.split("\n").map((l) => (rnd(6) ? l : words[rnd(words.length)]!)).join("\n") : text(rnd(30));
    if (a === b) continue;
    compared++;
    const want = createTwoFilesPatch("a/x", "b/x", a, b, undefined, undefined, { context: 3 }).split("\n").filter((l) => !l.startsWith("=====")).join("\n");
    assert.equal(diffTexts("a/x", "b/x", a, b), want, JSON.stringify({ a, b }));
  }
  assert.ok(compared > 2000);
});


// Issue 8: seeded fuzzing of every guest-file parser. Two properties:
// - parse then print, with no edit, gives back the very same text (fstab, KEY=value files);
// - a whole stage-1 plan over a guest whose config files are mutated never crashes: it either
//   plans or fails with a stable code, never INTERNAL and never an exception.
// FUZZ_ITERATIONS and FUZZ_SEED make a long or a reproducing run (npm run test:fuzz).
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { copyFile, readFile, writeFile } from "node:fs/promises";
import { join, relative } from "node:path";
import { Fstab } from "../../src/formats/fstab.ts";
import { ShellVars } from "../../src/formats/shell-vars.ts";
import { editCmdline, splitCmdline } from "../../src/bootloader/cmdline.ts";
import { runStage1 } from "../../src/agent/stage1.ts";
import { loadInputs } from "../../src/protocol/inputs.ts";
import { CODES } from "../../src/protocol/codes.ts";
import { Logger } from "../../src/util/log.ts";
import { REPO, SAMPLE, copyTree, tempDir } from "../helpers/tree.ts";
import { baseSeed, iterations, mutate, prng } from "../helpers/fuzz.ts";

const seedText = (p: string) => readFileSync(join(SAMPLE, "root", p), "utf8");

test("fstab: parse + print is the identity, on mutated input too", () => {
  const seeds = [seedText("etc/fstab"), "UUID=x / ext4 defaults 0 1\n", "#only a comment", "", "  /dev/sda1\t/boot\txfs\tdefaults\t0 0\n\n"];
  const n = iterations(2000);
  for (let i = 0; i < n; i++) {
    const seed = baseSeed() + i;
    const text = mutate(seeds[i % seeds.length]!, prng(seed));
    const f = new Fstab(text);
    assert.equal(f.toString(), text, `FUZZ_SEED=${seed}`);
    for (const e of f.entries()) {
      Fstab.addOption(e, "nofail");
      assert.match(e.options, /nofail/);
    }
    const edited = new Fstab(f.toString()).entries().length;
    assert.equal(edited, f.entries().length, `re-parsing an edited fstab keeps every entry (FUZZ_SEED=${seed})`);
  }
});

test("KEY=value files (grub defaults, ifcfg, os-release): parse + print is the identity; set() round-trips", () => {
  const seeds = [seedText("etc/default/grub"), seedText("etc/os-release"), 'DEVICE=eth0\nHWADDR="52:54:00:aa:bb:cc"\nIPADDR=10.0.0.2 # static\n', "X='a b'\nexport Y=\"q\\\"uote\"\n"];
  const n = iterations(2000);
  for (let i = 0; i < n; i++) {
    const seed = baseSeed() + i;
    const rnd = prng(seed);
    const text = mutate(seeds[i % seeds.length]!, rnd);
    const v = new ShellVars(text);
    assert.equal(v.toString(), text, `FUZZ_SEED=${seed}`);
    const value = mutate("root=UUID=0c3a console=ttyS0", rnd).replace(/\n/g, " ");
    v.set("GRUB_CMDLINE_LINUX", value);
    assert.equal(new ShellVars(v.toString()).get("GRUB_CMDLINE_LINUX"), value, `FUZZ_SEED=${seed}: ${JSON.stringify(value)}`);
  }
});

test("kernel command lines: edits never lose or duplicate the keys they set", () => {
  const n = iterations(2000);
  for (let i = 0; i < n; i++) {
    const seed = baseSeed() + i;
    const line = mutate('BOOT_IMAGE=/vmlinuz root=/dev/vda1 ro resume=/dev/vda5 console=ttyS0,115200 quiet rd.lvm.lv="vg/root"', prng(seed)).replace(/\n/g, " ");
    const out = editCmdline(line, { set: { root: "UUID=1", "net.ifnames": "0" }, remove: ["resume"] });
    const words = splitCmdline(out);
    assert.equal(words.filter((w) => w.startsWith("root=")).length, 1, `FUZZ_SEED=${seed}: ${out}`);
    assert.equal(words.filter((w) => w === "net.ifnames=0").length, 1, `FUZZ_SEED=${seed}`);
    assert.equal(words.some((w) => w.startsWith("resume=")), false, `FUZZ_SEED=${seed}`);
  }
});

/** Every guest tree the tests ship with its maps: the sample and each golden fixture. */
function fixtureRoots(): { root: string; inputs: string }[] {
  const out = [{ root: join(SAMPLE, "root"), inputs: join(SAMPLE, "inputs") }];
  const golden = join(REPO, "test/golden");
  if (!existsSync(golden)) return out;
  for (const area of readdirSync(golden)) {
    const a = join(golden, area);
    if (!statSync(a).isDirectory()) continue;
    for (const c of readdirSync(a)) {
      const root = join(a, c, "root"), inputs = join(a, c, "inputs");
      if (existsSync(root) && existsSync(inputs)) out.push({ root, inputs });
    }
  }
  return out;
}

/** A fixture's maps; one it does not ship is the sample's (network: no NICs mapped). */
async function fixtureInputs(dir: string) {
  const merged = await tempInputs();
  for (const f of ["system-configuration.json", "replica-disk-map.json"]) {
    await copyFile(existsSync(join(dir, f)) ? join(dir, f) : join(SAMPLE, "inputs", f), join(merged, f));
  }
  const net = "network-interface-map.json";
  if (existsSync(join(dir, net))) await copyFile(join(dir, net), join(merged, net));
  else await writeFile(join(merged, net), '{"interfaces": []}');
  return loadInputs(merged);
}

let scratch: string | undefined;
async function tempInputs(): Promise<string> {
  scratch ??= await tempDir();
  return scratch;
}

function textFiles(root: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const n of readdirSync(d)) {
      const p = join(d, n);
      const st = statSync(p, { throwIfNoEntry: false });
      if (!st) continue;
      if (st.isDirectory()) walk(p);
      else if (st.isFile() && st.size < 64 * 1024) out.push(relative(root, p));
    }
  };
  for (const top of ["etc", "boot"]) if (existsSync(join(root, top))) walk(join(root, top));
  return out.filter((p) => !p.includes("/.") && !/(vmlinuz|initr)/.test(p));
}

/**
 * At least this share of mutated guests whose fixture plans as shipped still plan. Measured:
 * all of them (53-63 a run, five seeds); a long run may meet mutations that are refused for
 * good reason, so the floor is half: it catches a regression that fails plans wholesale.
 */
const PLAN_FLOOR = 0.5;

test("a stage-1 plan over guests with mutated config files never crashes", async () => {
  const fixtures = fixtureRoots();
  const n = iterations(150);
  const stats = { planned: 0, failedWithCode: 0, onHealthy: 0, plannedOnHealthy: 0 };
  const codes = new Map<number, number>();
  const copies = new Map<string, { copy: string; files: string[]; healthy: boolean }>();
  for (let i = 0; i < n; i++) {
    const seed = baseSeed() + i;
    const rnd = prng(seed);
    const fx = fixtures[Math.floor(rnd() * fixtures.length)]!;
    let c = copies.get(fx.root);
    if (!c) {
      const copy = await copyTree(fx.root);
      // as shipped, does it plan? (the golden trees of one area lack, say, an initramfs tool)
      const { result } = await runStage1({ root: copy, inputs: await fixtureInputs(fx.inputs), mode: "plan", log: new Logger() });
      c = { copy, files: textFiles(copy), healthy: result.status === "succeeded" };
      copies.set(fx.root, c);
    }
    if (!c.files.length) continue;
    const file = c.files[Math.floor(rnd() * c.files.length)]!;
    const original = await readFile(join(c.copy, file));
    await writeFile(join(c.copy, file), mutate(original.toString("utf8"), rnd));
    try {
      const inputs = await fixtureInputs(fx.inputs);
      const { result } = await runStage1({ root: c.copy, inputs, mode: "plan", log: new Logger() });
      assert.notEqual(result.code, CODES.INTERNAL.code, `FUZZ_SEED=${seed} ${relative(REPO, fx.root)}/${file}: ${result.message}`);
      if (c.healthy) stats.onHealthy++;
      if (result.status === "succeeded") {
        stats.planned++;
        if (c.healthy) stats.plannedOnHealthy++;
      } else {
        stats.failedWithCode++;
        codes.set(result.code, (codes.get(result.code) ?? 0) + 1);
      }
    } catch (e) {
      assert.fail(`FUZZ_SEED=${seed}: plan threw on a mutated ${relative(REPO, fx.root)}/${file}: ${(e as Error).stack}`);
    } finally {
      await writeFile(join(c.copy, file), original);
    }
  }
  const healthy = [...copies.values()].filter((c) => c.healthy).length;
  console.log(`fuzz: ${n} mutated guests over ${fixtures.length} fixtures (${healthy} of the ${copies.size} drawn plan as shipped): ${stats.planned} planned (${stats.plannedOnHealthy} of ${stats.onHealthy} on those), ${stats.failedWithCode} failed with a code (${[...codes].map(([c, k]) => `${k}x${c}`).join(" ")})`);
  // a regression that fails every plan with an ordinary code must not pass as "no crash"
  assert.ok(copies.get(join(SAMPLE, "root"))?.healthy ?? true, "the sample guest does not plan as shipped");
  assert.ok(healthy >= copies.size / 4, `only ${healthy} of ${copies.size} fixtures plan as shipped`);
  assert.ok(stats.plannedOnHealthy >= stats.onHealthy * PLAN_FLOOR, `only ${stats.plannedOnHealthy} of ${stats.onHealthy} mutated guests that planned as shipped still planned (floor ${PLAN_FLOOR * 100}%)`);
});

// Crash at every step on real guest trees: a SIGKILL at a change boundary or in the middle of
// the initramfs rebuild, then a re-run that must converge to the tree an uninterrupted run
// makes, then `rollback`, which must give back the original byte for byte. Only the files the
// guest's own tools regenerate with new bytes on every run (listed per family, with the reason)
// are compared by presence instead of content.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { execa } from "execa";
import { GUEST_JOURNAL } from "../../../src/protocol/files.ts";
import { EXEC_TMPDIR } from "../../../src/engine/journal.ts";
import type { Variant } from "../../helpers/images.ts";
import { baseDisk, scratchDir, withGuestDisk } from "./disk.ts";
import { apply, childCpuSeconds, killedIn, rollback, writeInputs, type MidRebuildKill, type RunResult } from "./run.ts";
import { diffPrints, fingerprint, type Print, type Regenerated } from "./tree.ts";
import { prng } from "../../helpers/fuzz.ts";

export interface Family {
  name: string;
  variant: Variant;
  maps: (rootUuid: string) => { system: unknown; disks: unknown; network: unknown };
  /** Rewritten with new bytes by every successful run (compared by presence only). */
  regenerated: Regenerated[];
  /** What rollback cannot give back byte for byte (compared by presence only); empty is the aim. */
  afterRollback: Regenerated[];
  /** How stage 1 brings the initramfs up to date: the guest's own rebuild (default), or one more archive. */
  initrd?: "rebuild" | "append";
}

const JOURNAL_FILE: Regenerated = { pattern: new RegExp(`^${GUEST_JOURNAL.slice(1).replace(/\./g, "\\.")}$`), why: "the journal records the run's start time" };
const INITRD: Regenerated = { pattern: /^boot\/initrd\.img-[^/]+$/, why: "the initramfs archive carries build timestamps" };

// the guest's own rebuild, whatever the image holds: the sweeps kill it in the middle (the
// itools-append family covers the image completed by one more archive instead)
const system = (id: string, uuid: string, devices: { device: string; uuid: string; fsType: string; mountpoint?: string }[] = [{ device: "/dev/vda1", uuid, fsType: "ext4", mountpoint: "/" }], rebuildInitramfs = true) => ({
  migrationId: id,
  source: { hypervisor: "kvm", firmware: "bios", blockDevices: devices },
  target: { firmware: "bios", scsiController: "pvscsi", nicModel: "vmxnet3" },
  options: { rebuildInitramfs },
});
const oneDisk = { disks: [{ source: { device: "/dev/vda" }, target: { controller: "scsi0", unit: 0 }, boot: true }] };

export const FAMILIES: Record<"itools" | "itoolsAppend" | "dracut" | "netplan", Family> = {
  // Debian/initramfs-tools, ifupdown
  itools: {
    name: "itools",
    variant: "deb12-itools",
    maps: (uuid) => ({
      system: system("crash-itools", uuid),
      disks: oneDisk,
      network: { interfaces: [{ sourceMac: "52:54:00:12:34:56", sourceName: "ens3", targetMac: "00:50:56:aa:00:01" }] },
    }),
    regenerated: [JOURNAL_FILE, INITRD],
    afterRollback: [],
  },
  // the same guest, its initramfs completed by one more archive (initrd/append.ts): the new
  // image is one atomic write among the changes, with no rebuild to kill
  itoolsAppend: {
    name: "itools-append",
    variant: "deb12-itools",
    initrd: "append",
    maps: (uuid) => ({
      system: system("crash-itools-append", uuid, undefined, false),
      disks: oneDisk,
      network: { interfaces: [{ sourceMac: "52:54:00:12:34:56", sourceName: "ens3", targetMac: "00:50:56:aa:00:01" }] },
    }),
    regenerated: [JOURNAL_FILE, INITRD],
    afterRollback: [],
  },
  // RHEL-style storage: dracut, LVM root, separate /boot
  dracut: {
    name: "dracut",
    variant: "deb12-dracut-lvm",
    maps: (uuid) => ({
      system: system("crash-dracut", uuid, [
        { device: "/dev/mapper/guestvg-root", uuid, fsType: "ext4", mountpoint: "/" },
        { device: "/dev/vda1", uuid: "6f1c2b7e-0d4a-4c55-9a0e-2b8f3d1e4c21", fsType: "ext4", mountpoint: "/boot" },
      ]),
      disks: oneDisk,
      network: { interfaces: [{ sourceMac: "52:54:00:12:34:56", sourceName: "ens3", targetMac: "00:50:56:aa:00:01" }] },
    }),
    regenerated: [JOURNAL_FILE, INITRD],
    afterRollback: [],
  },
  // Ubuntu-style network: netplan + networkd, two NICs
  netplan: {
    name: "netplan",
    variant: "deb12-netplan",
    maps: (uuid) => ({
      system: system("crash-netplan", uuid),
      disks: oneDisk,
      network: {
        interfaces: [
          { sourceMac: "52:54:00:12:34:56", sourceName: "ens3", targetMac: "00:50:56:aa:00:01" },
          { sourceMac: "52:54:00:12:34:57", sourceName: "ens4", targetMac: "00:50:56:aa:00:02" },
        ],
      },
    }),
    regenerated: [JOURNAL_FILE, INITRD],
    afterRollback: [],
  },
};

export interface Reference {
  family: Family;
  inputs: string;
  original: Print;
  expected: Print;
  /** The done entries of the uninterrupted run's journal, in order. */
  done: string[];
  ms: number;
}

function doneEntries(root: string): string[] {
  const text = readFileSync(join(root, GUEST_JOURNAL), "utf8");
  return text
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { t: string; step?: string; action?: string; path?: string })
    .filter((e) => e.t === "done")
    .map((e) => `${e.step} ${e.action}${e.path ? ` ${e.path}` : ""}`);
}

function explain(r: RunResult): string {
  return `exit ${r.code ?? r.signal}; stderr tail:\n${r.stderr.trim().split("\n").slice(-25).join("\n")}`;
}

/** The uninterrupted run on a fresh disk: the expected tree, and the list of change boundaries. */
export async function reference(f: Family): Promise<Reference> {
  const base = await baseDisk(f.variant);
  const uuid = await partitionUuid(base);
  const inputs = writeInputs(join(scratchDir(`inputs-${f.name}-`), "maps"), f.maps(uuid));
  return withGuestDisk(f.variant, async ({ root }) => {
    const original = await fingerprint(root, f.variant, f.afterRollback);
    const r = await apply(root, inputs);
    assert.equal(r.code, 0, `the uninterrupted run failed: ${explain(r)}`);
    const expected = await fingerprint(root, f.variant, f.regenerated);
    const done = doneEntries(root);
    assert.ok(done.length >= 5, `only ${done.length} changes`);
    if (f.initrd === "append") assert.ok(done.some((d) => /^initrd write \/boot\/initrd\.img-/.test(d)) && !done.some((d) => /^initrd exec/.test(d)), `the initramfs was not completed by an archive: ${done.join(", ")}`);
    else assert.ok(done.some((d) => /^initrd exec/.test(d)), `no initramfs rebuild among the changes: ${done.join(", ")}`);
    const rb = await rollback(root);
    assert.equal(rb.code, 0, explain(rb));
    assert.deepEqual(diffPrints(original, await fingerprint(root, f.variant, f.afterRollback)), [], `${f.name}: rollback after the uninterrupted run`);
    return { family: f, inputs, original, expected, done, ms: r.ms };
  });
}

async function partitionUuid(raw: string): Promise<string> {
  const r = await execa("blkid", ["-p", "-O", "1048576", "-s", "UUID", "-o", "value", raw], { reject: false });
  const u = String(r.stdout).trim();
  return /^[0-9a-f-]{36}$/.test(u) ? u : "0b8e7c6a-5d4f-4e3a-9b2c-1d0e9f8a7b6c";
}

/** rollbackOnly: after the kill, `rollback` straight away (no re-run) must give back the original. */
export type CrashPoint = { kind: "change"; n: number } | { kind: "rebuild"; kill: MidRebuildKill; rollbackOnly?: boolean };

export function describePoint(ref: Reference, p: CrashPoint): string {
  return p.kind === "change" ? `${ref.family.name}: kill after change ${p.n}/${ref.done.length} (${ref.done[p.n - 1]})` : `${ref.family.name}: kill during the initramfs rebuild (${p.kill.phase} +${p.kill.delayMs} ms)${p.rollbackOnly ? ", then rollback" : ""}`;
}

export interface CrashOutcome {
  point: string;
  ms: number;
}

/** One crash point on a fresh disk: kill, re-run, compare; rollback, compare. */
export async function crashAt(ref: Reference, p: CrashPoint): Promise<CrashOutcome> {
  const f = ref.family;
  const what = describePoint(ref, p);
  const t0 = Date.now();
  await withGuestDisk(f.variant, async ({ root }) => {
    const killed = await apply(root, ref.inputs, p.kind === "change" ? { killAfterChange: p.n } : { killDuringRebuild: p.kill });
    assert.equal(killed.signal, "SIGKILL", `${what}: the run was not killed (${explain(killed)})`);
    if (p.kind === "change") assert.equal(doneEntries(root).length, p.n, `${what}: the journal does not end at change ${p.n}`);
    else assert.ok(killedIn(killed, "tool"), `${what}: killed outside the rebuild (${killed.killedDuring?.join(", ")})`);
    if (!(p.kind === "rebuild" && p.rollbackOnly)) {
      const again = await apply(root, ref.inputs);
      assert.equal(again.code, 0, `${what}: the re-run failed: ${explain(again)}`);
      assert.deepEqual(diffPrints(ref.expected, await fingerprint(root, f.variant, f.regenerated)), [], `${what}: the re-run did not converge to the uninterrupted run's tree`);
    }
    const rb = await rollback(root);
    assert.equal(rb.code, 0, `${what}: rollback failed: ${explain(rb)}`);
    assert.deepEqual(diffPrints(ref.original, await fingerprint(root, f.variant, f.afterRollback)), [], `${what}: rollback did not restore the original`);
  });
  return { point: what, ms: Date.now() - t0 };
}

/** Runs crash points on `workers` disks at once; every point is tried, failures are collected. */
export async function sweep(ref: Reference, points: CrashPoint[], workers: number, log: (s: string) => void): Promise<{ survived: string[]; failed: string[] }> {
  const queue = [...points];
  const survived: string[] = [];
  const failed: string[] = [];
  async function worker(): Promise<void> {
    for (let p = queue.shift(); p; p = queue.shift()) {
      try {
        const o = await crashAt(ref, p);
        survived.push(o.point);
        log(`survived: ${o.point} (${Math.round(o.ms / 1000)} s)`);
      } catch (e) {
        const msg = (e as Error).message;
        failed.push(msg);
        log(`FAILED: ${msg}`);
      }
    }
  }
  await Promise.all(Array.from({ length: Math.max(1, workers) }, () => worker()));
  return { survived, failed };
}

/** The number of the change that rebuilds the initramfs (or writes it completed by an archive). */
function rebuildChange(ref: Reference): number {
  const n = ref.done.findIndex((d) => (ref.family.initrd === "append" ? /^initrd write \/boot\/initrd/ : /^initrd exec/).test(d)) + 1;
  if (n < 2) throw new Error(`${ref.family.name}: the uninterrupted run has no initramfs change after a change: ${ref.done.join("; ")}`);
  return n;
}

/** Every boundary before the initramfs rebuild. */
export function beforeRebuild(ref: Reference): number[] {
  return Array.from({ length: rebuildChange(ref) - 1 }, (_, i) => i + 1);
}

/** A seeded choice of k boundaries: before the initramfs rebuild, or anywhere when the image is completed by an archive. */
export function sampleBoundaries(ref: Reference, k: number, seed: number): number[] {
  const rnd = prng(seed);
  // before the rebuild: a kill there costs no rebuild of its own (the chain's mid-rebuild kill
  // and its last re-run cover the rebuild), and the sample always holds the last change
  // before it, where the new configuration is complete and the old image still in place. An
  // image completed by an archive costs no rebuild anywhere: the sample then spans every
  // boundary and always holds the image's own write
  const rebuild = rebuildChange(ref);
  const append = ref.family.initrd === "append";
  const pool = append ? ref.done.length : rebuild - 1;
  const picked = new Set<number>([rebuild - 1, ...(append ? [rebuild] : [])]);
  while (picked.size < Math.min(k, pool)) picked.add(1 + Math.floor(rnd() * pool));
  return [...picked].sort((x, y) => x - y);
}

/**
 * The tree at a kill point, for comparing a clean run with a re-run killed at the same change:
 * without the commands' TMPDIR. With the boot loader alongside the initramfs step, whether the
 * boot loader's lane has made that scratch directory when the other lane's change N lands is a
 * race, so either is a correct state after change N; it is emptied and removed after the
 * commands, on rollback and before a re-run, which the convergence and rollback checks compare.
 */
function atKillPoint(p: Print): Print {
  const scratch = EXEC_TMPDIR.replace(/^\//, "");
  return new Map([...p].filter(([rel]) => rel !== scratch && !rel.startsWith(`${scratch}/`)));
}

export interface ChainOutcome {
  /** Kills followed by `rollback`, each checked against the original. */
  rolledBack: string[];
  /** Kills followed by a re-run (itself killed at the next point, the last one not). */
  recovered: string[];
  ms: number;
}

/**
 * The listed boundaries and one kill in the middle of the rebuild, all on one disk, with a real
 * rebuild only where a killed run itself reached it (the sweep the CI can afford):
 *  A. from the original each time: kill at n, fingerprint (S_n), `rollback`, the original
 *     again; then a kill of the whole process group during the rebuild, `rollback`, the
 *     original again;
 *  B. from the original: kill at n1; a re-run killed at n2 (it first undoes the crashed run)
 *     must leave exactly S_n2, as the clean run killed there did; and so on through the list;
 *     then a re-run killed during the rebuild; then a last re-run, not killed, must converge
 *     to the uninterrupted run's tree; then `rollback` gives back the original.
 * So every re-run after a crash behaves, change for change, like a clean run, and ends as one.
 */
export async function chainSweep(ref: Reference, ns: number[], mid: MidRebuildKill | undefined, log: (s: string) => void): Promise<ChainOutcome> {
  const f = ref.family;
  const t0 = Date.now();
  const out: ChainOutcome = { rolledBack: [], recovered: [], ms: 0 };
  const midWhat = mid ? describePoint(ref, { kind: "rebuild", kill: mid }) : `${f.name}: kill after change ${ns.at(-1) ?? 0}/${ref.done.length}`;
  await withGuestDisk(f.variant, async ({ root }) => {
    const states = new Map<number, Print>();
    const killAt = async (n: number) => {
      const what = describePoint(ref, { kind: "change", n });
      const killed = await apply(root, ref.inputs, { killAfterChange: n });
      assert.equal(killed.signal, "SIGKILL", `${what}: the run was not killed (${explain(killed)})`);
      assert.equal(doneEntries(root).length, n, `${what}: the journal does not end at change ${n}`);
      return { what, killed };
    };
    const killMid = async () => {
      if (!mid) throw new Error("no mid-rebuild kill in this sweep");
      const killed = await apply(root, ref.inputs, { killDuringRebuild: mid });
      assert.equal(killed.signal, "SIGKILL", `${midWhat}: the run was not killed (${explain(killed)})`);
      assert.ok(killedIn(killed, "tool"), `${midWhat}: killed outside the rebuild (${killed.killedDuring?.join(", ")})`);
      return killed;
    };
    const rollbackToOriginal = async (what: string) => {
      const rb = await rollback(root);
      assert.equal(rb.code, 0, `${what}: rollback failed: ${explain(rb)}`);
      assert.deepEqual(diffPrints(ref.original, await fingerprint(root, f.variant, f.afterRollback)), [], `${what}: rollback did not restore the original`);
      out.rolledBack.push(`${what}, then rollback`);
    };
    for (const n of ns) {
      const { what, killed } = await killAt(n);
      states.set(n, atKillPoint(await fingerprint(root, f.variant, f.regenerated)));
      await rollbackToOriginal(what);
      log(`survived: ${what}, then rollback (${Math.round(killed.ms / 1000)} s)`);
    }
    if (mid) {
      const m = await killMid();
      await rollbackToOriginal(midWhat);
      log(`survived: ${midWhat} [${m.killedDuring?.join(" ")}], then rollback (${Math.round(m.ms / 1000)} s)`);
    }

    let prev: string | undefined;
    for (const n of ns) {
      const { what, killed } = await killAt(n);
      if (prev !== undefined) {
        assert.deepEqual(diffPrints(states.get(n)!, atKillPoint(await fingerprint(root, f.variant, f.regenerated))), [], `${what}, re-running after ${prev}: the tree differs from a clean run killed at the same change`);
        out.recovered.push(`${prev}, then a re-run`);
        log(`survived: ${prev}, then a re-run (killed at change ${n}) that matched a clean run (${Math.round(killed.ms / 1000)} s)`);
      }
      prev = what;
    }
    const m2 = mid ? await killMid() : undefined;
    if (m2 && prev !== undefined) {
      out.recovered.push(`${prev}, then a re-run`);
      log(`survived: ${prev}, then a re-run (killed during the rebuild) (${Math.round(m2.ms / 1000)} s)`);
    }
    const again = await apply(root, ref.inputs);
    assert.equal(again.code, 0, `the re-run after a ${midWhat} failed: ${explain(again)}`);
    assert.deepEqual(diffPrints(ref.expected, await fingerprint(root, f.variant, f.regenerated)), [], `the re-run after a ${midWhat} did not converge to the uninterrupted run's tree`);
    out.recovered.push(`${midWhat}, then a re-run to the end`);
    log(`survived: ${midWhat}${m2 ? ` [${m2.killedDuring?.join(" ")}]` : ""}, then a re-run that converged (${Math.round(again.ms / 1000)} s)`);
    await rollbackToOriginal(`${f.name}: the recovered run`);
  });
  out.ms = Date.now() - t0;
  return out;
}

export const FULL = process.env.OSAM_CRASH_FULL === "1";
/** Seeds the sample of boundaries and the mid-rebuild delay; OSAM_CRASH_SEED reproduces a run. */
export const SEED = Number(process.env.OSAM_CRASH_SEED ?? 20261125);

/** How much of a family's sweep the CI affords (OSAM_CRASH_FULL=1 runs all of it). */
export interface SweepScope {
  /** Boundaries in the chain: every one before the rebuild, or a seeded sample of this many. */
  boundaries: "before-rebuild" | number;
  /** A kill of the whole process group while the archive is being written (two rebuilds). */
  midRebuildKill: boolean;
}

/**
 * One family's crash sweep. CI: the chain over the scope's boundaries, which all lie before
 * the rebuild (a kill there costs no rebuild of its own), and where the scope says so a kill
 * of the whole process group while the archive is being written. OSAM_CRASH_FULL=1: the chain
 * over every boundary with the mid-rebuild kill, and every boundary plus two mid-rebuild kills
 * re-run from a fresh disk each.
 */
export async function familySweep(f: Family, scope: SweepScope): Promise<{ survived: number; failed: string[] }> {
  const say = (s: string) => process.stderr.write(`crash-${f.name}: ${s}\n`);
  const t0 = Date.now();
  const cpu0 = childCpuSeconds();
  const ref = await reference(f);
  say(`uninterrupted run: ${ref.done.length} changes in ${Math.round(ref.ms / 1000)} s`);
  const all = ref.done.map((_, i) => i + 1);
  const ns = FULL ? all : scope.boundaries === "before-rebuild" ? beforeRebuild(ref) : sampleBoundaries(ref, scope.boundaries, SEED);
  say(`boundaries in the chain: ${ns.join(", ")} of ${all.length}${typeof scope.boundaries === "number" && !FULL ? ` (seed ${SEED})` : ""}`);
  const rebuilds = f.initrd !== "append";
  const mid: MidRebuildKill | undefined = rebuilds && (FULL || scope.midRebuildKill) ? { phase: "writing", delayMs: 200 + (SEED % 7) * 100 } : undefined;
  const chain = await chainSweep(ref, ns, mid, say);
  let strict = { survived: [] as string[], failed: [] as string[] };
  if (FULL) {
    const kill: MidRebuildKill = { phase: "tool", delayMs: 1000 + (SEED % 5) * 1000 };
    const points: CrashPoint[] = [...(rebuilds ? [{ kind: "rebuild", kill } as const, { kind: "rebuild", kill, rollbackOnly: true } as const] : []), ...all.map((n): CrashPoint => ({ kind: "change", n }))];
    strict = await sweep(ref, points, 2, say);
  }
  const survived = chain.rolledBack.length + chain.recovered.length + strict.survived.length;
  say(`crash points survived: ${survived} (${chain.rolledBack.length} kill+rollback, ${chain.recovered.length} kill+re-run in the chain, ${strict.survived.length} kill+fresh re-run+rollback); ${Math.round((Date.now() - t0) / 1000)} s wall, ${Math.round(childCpuSeconds() - cpu0)} s CPU in child processes`);
  return { survived, failed: strict.failed };
}

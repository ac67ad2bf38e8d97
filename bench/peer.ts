// npm run bench:peer [VARIANT...] (issue 13): the peer side by side, in one run on one machine,
// for each variant (default: deb12-itools, whose host-only initramfs lacks the drivers, and
// deb12-generic, whose generic one has them) on the same cached source disk: virt-v2v-in-place,
// then osam-fixup's stage 1 (the e2e flow of bench:e2e, stopped after stage 1), then
// virt-v2v-in-place again. Each on its own qcow2 overlay of the cached disk. Prints the wall times, the peak memories and the ratio, with the
// load average beside them (other work on the machine moves every figure; the ratio within
// one run is the figure that counts), and writes bench/peer-results.md. Not part of npm test.
//   virt-v2v-in-place: its whole run (appliance boot, inspection, conversion), as time(1) would
//   stage 1: the fixup disk's power-on to END (virt-v2v's time includes its appliance's boot)
//   peak memory: the largest sum of VmRSS over the processes, sampled every 250 ms from /proc:
//     for virt-v2v its whole process tree (virt-v2v, the appliance's qemu, nbdkit), for stage 1
//     the fixup VM's qemu (the manager process is left out: it is this bench's node process)
// Debian's virt-v2v, libguestfs-tools and nbdkit are installed with apt when missing, with
// linux-image-amd64: libguestfs builds its appliance (supermin) from the host's kernel.
import { execa } from "execa";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { cpus, loadavg, totalmem } from "node:os";
import { runE2eMigration } from "../test/e2e/lib/migration.ts";
import { E2E_ROOT, REPO } from "../test/e2e/lib/paths.ts";
import { VARIANTS as ALL_VARIANTS, ensureDisk, readMeta, type DiskImage, type DiskMeta, type Variant } from "../test/helpers/images.ts";

/** The issue's aim for each variant: stage 1 at most this share of the peer's time. */
const AIMS: Partial<Record<Variant, number>> = { "deb12-itools": 0.8, "deb12-generic": 0.3 };
const VARIANTS_RUN: Variant[] = process.argv.slice(2).length ? (process.argv.slice(2) as Variant[]) : ["deb12-itools", "deb12-generic"];
for (const v of VARIANTS_RUN) if (!(ALL_VARIANTS as readonly string[]).includes(v)) throw new Error(`unknown variant ${v} (known: ${ALL_VARIANTS.join(", ")})`);
const PACKAGES = ["virt-v2v", "libguestfs-tools", "nbdkit", "linux-image-amd64"];
const log = (l: string) => process.stderr.write(`[bench:peer] ${l}\n`);

/** Installs what is missing; returns a sentence saying what was there or what apt installed. */
async function ensurePeer(): Promise<string> {
  const q = await execa("dpkg-query", ["-W", "-f", "${Package} ${Status} ${Version}\n", ...PACKAGES], { reject: false });
  const have = new Map(
    String(q.stdout)
      .split("\n")
      .filter((l) => l.includes(" install ok installed "))
      .map((l) => [l.split(" ")[0], l.split(" ").pop()] as const),
  );
  const missing = PACKAGES.filter((p) => !have.has(p));
  if (!missing.length) return `already installed: ${PACKAGES.map((p) => `${p} ${have.get(p)}`).join(", ")}`;
  const sim = await execa("apt-get", ["install", "-s", "-y", "--no-install-recommends", ...missing]);
  const pulled = String(sim.stdout)
    .split("\n")
    .filter((l) => l.startsWith("Inst "))
    .map((l) => l.split(" ")[1]);
  log(`installing ${missing.join(", ")} with apt-get (${pulled.length} packages: ${pulled.join(" ")})`);
  await execa("apt-get", ["install", "-y", "--no-install-recommends", ...missing], { env: { DEBIAN_FRONTEND: "noninteractive" }, stdout: "inherit", stderr: "inherit" });
  return `installed with apt-get install --no-install-recommends ${missing.join(" ")}: ${pulled.length} packages (${pulled.join(" ")})`;
}

/** virt-v2v-in-place where Debian puts it, or undefined (then virt-v2v -o null stands in). */
function inPlaceBinary(): string | undefined {
  for (const dir of (process.env.PATH ?? "").split(":").concat(["/usr/libexec", "/usr/lib/virt-v2v"])) {
    const p = join(dir, "virt-v2v-in-place");
    if (dir && existsSync(p)) return p;
  }
  return undefined;
}

/**
 * The cached source disk: the current recipe's (built if missing), or, when OSAM_PEER_CACHED=1
 * and it is not built yet, the newest disk already in the image's directory (a disk build waits
 * for every other image build on the machine). Returns it with a note saying which.
 */
async function sourceDisk(variant: Variant): Promise<{ img: DiskImage; note: string }> {
  const want = String((await execa("bash", [join(REPO, "test/images/build.sh"), variant, "--disk-meta"])).stdout).trim();
  const dir = dirname(want);
  const cached = existsSync(dir)
    ? readdirSync(dir)
        .filter((n) => /^disk-[0-9a-f]+\.json$/.test(n))
        .map((n) => join(dir, n))
        .sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs)
    : [];
  if (existsSync(want) || process.env.OSAM_PEER_CACHED !== "1" || !cached.length) {
    const img = await ensureDisk(variant);
    return { img, note: `the current recipe's disk (${basename(want)})` };
  }
  const img = { dir, meta: readMeta(dir), disk: JSON.parse(readFileSync(cached[0]!, "utf8")) as DiskMeta };
  return { img, note: `${basename(cached[0]!)}, cached from an earlier recipe (OSAM_PEER_CACHED=1: the current recipe's ${basename(want)} is not built)` };
}

interface Proc {
  pid: number;
  ppid: number;
  rssKiB: number;
  cmd: string;
}

function processes(): Proc[] {
  const out: Proc[] = [];
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const status = readFileSync(`/proc/${d}/status`, "utf8");
      const cmd = readFileSync(`/proc/${d}/cmdline`, "utf8").replace(/\0/g, " ");
      out.push({ pid: Number(d), ppid: Number(/^PPid:\s+(\d+)/m.exec(status)?.[1] ?? 0), rssKiB: Number(/^VmRSS:\s+(\d+)/m.exec(status)?.[1] ?? 0), cmd });
    } catch {
      // gone between the listing and the read
    }
  }
  return out;
}

/** The pid's descendants, itself included. */
function treeOf(all: Proc[], root: number): Proc[] {
  const keep = new Set([root]);
  for (let grew = true; grew; ) {
    grew = false;
    for (const p of all) {
      if (keep.has(p.pid) || !keep.has(p.ppid)) continue;
      keep.add(p.pid);
      grew = true;
    }
  }
  return all.filter((p) => keep.has(p.pid));
}

/** Samples the chosen processes' summed RSS until stopped; returns the peak and who made it. */
function sampleRss(pick: (all: Proc[]) => Proc[]): { stop: () => { peakMiB: number; at: string } } {
  let peak = 0;
  let at = "";
  const tick = () => {
    const ps = pick(processes());
    const sum = ps.reduce((n, p) => n + p.rssKiB, 0);
    if (sum > peak) {
      peak = sum;
      at = ps.map((p) => `${p.cmd.split(" ")[0]!.split("/").pop()} ${Math.round(p.rssKiB / 1024)}`).join(", ");
    }
  };
  const timer = setInterval(tick, 250);
  return {
    stop: () => {
      clearInterval(timer);
      tick();
      return { peakMiB: peak / 1024, at };
    },
  };
}

const load = () => loadavg().map((x) => x.toFixed(2)).join(" ");

interface Figure {
  what: string;
  wallS: number;
  peakMiB: number;
  peakAt: string;
  loadBefore: string;
  loadAfter: string;
  ok: boolean;
  note: string;
}

const APPLIANCE_CACHE = join(E2E_ROOT, "peer-appliance");
const PEER_ENV = { LIBGUESTFS_BACKEND: "direct", LIBGUESTFS_BACKEND_SETTINGS: "force_tcg", LIBGUESTFS_CACHEDIR: APPLIANCE_CACHE };

/** libguestfs builds its appliance on first use: built here, untimed, so run 1 pays no more than run 2. */
async function warmAppliance(): Promise<void> {
  mkdirSync(APPLIANCE_CACHE, { recursive: true });
  if (existsSync(join(APPLIANCE_CACHE, `.guestfs-${process.getuid?.() ?? 0}`, "appliance.d"))) return;
  log("building libguestfs's appliance (once, untimed): guestfish -a /dev/null run");
  const r = await execa("guestfish", ["-a", "/dev/null", "run"], { reject: false, all: true, env: PEER_ENV });
  if (r.exitCode !== 0) throw new Error(`libguestfs's appliance did not start (guestfish exit ${r.exitCode}): ${String(r.all).trim().split("\n").slice(-5).join(" / ")}`);
}

async function peerRun(dir: string, n: number, disk: string, inPlace: string | undefined): Promise<Figure> {
  const overlay = join(dir, `peer-${n}.qcow2`);
  rmSync(overlay, { force: true });
  await execa("qemu-img", ["create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", disk, overlay]);
  const argv = inPlace ? [inPlace, "-i", "disk", "-if", "qcow2", overlay] : ["virt-v2v", "-i", "disk", "-if", "qcow2", overlay, "-o", "null"];
  const what = `${inPlace ? "virt-v2v-in-place" : "virt-v2v -o null"} #${n}`;
  log(`${what}: ${argv.join(" ")}`);
  const loadBefore = load();
  const t0 = performance.now();
  const child = execa(argv[0]!, argv.slice(1), { reject: false, all: true, env: PEER_ENV });
  const rss = sampleRss((all) => (child.pid ? treeOf(all, child.pid) : []));
  const r = await child;
  const wallS = (performance.now() - t0) / 1000;
  const m = rss.stop();
  writeFileSync(join(dir, `peer-${n}.log`), String(r.all));
  const tail = String(r.all).trim().split("\n").slice(-3).join(" / ");
  log(`${what}: exit ${r.exitCode} after ${wallS.toFixed(1)} s, peak ${m.peakMiB.toFixed(0)} MiB (${m.at})`);
  return { what, wallS, peakMiB: m.peakMiB, peakAt: m.at, loadBefore, loadAfter: load(), ok: r.exitCode === 0, note: r.exitCode === 0 ? "" : `exit ${r.exitCode}: ${tail}` };
}

async function ourRun(variant: Variant, image: DiskImage): Promise<Figure & { breakdown: string; guestToolsS?: number; stage1S?: number; bootS?: number }> {
  const loadBefore = load();
  let runDir = "";
  const rss = sampleRss((all) => (runDir ? all.filter((p) => p.cmd.includes(runDir) && /qemu-system/.test(p.cmd)) : []));
  const r = await runE2eMigration(variant, {
    stage1Only: true,
    image,
    log: (l) => {
      const m = /^run directory (.+)$/.exec(l);
      if (m) runDir = m[1]!;
      log(`stage 1: ${l}`);
    },
  });
  const m = rss.stop();
  const t = r.timings;
  const wallS = (t.fixupDiskBoot ?? NaN) + (t.stage1 ?? NaN);
  const ok = r.result?.status === "succeeded" && !r.flowError;
  const breakdown = await execa(process.execPath, [join(REPO, "bench/e2e.ts"), "--result", r.logs["result.json"] ?? "/nonexistent"], { reject: false });
  return {
    what: "osam-fixup stage 1",
    wallS,
    peakMiB: m.peakMiB,
    peakAt: m.at,
    loadBefore,
    loadAfter: load(),
    ok,
    note: ok ? `run ${r.runDir}` : `${r.flowError ?? r.result?.message ?? "no result"} (run ${r.runDir})`,
    breakdown: String(breakdown.stdout),
    // from result.json's exec timings, or from fixup.log's exec lines where they are missing
    guestToolsS: t.guestTools,
    stage1S: t.stage1,
    bootS: t.fixupDiskBoot,
  };
}

const installed = await ensurePeer();
const inPlace = inPlaceBinary();
const root = join(E2E_ROOT, "peer", new Date().toISOString().replace(/[:.]/g, "").slice(0, 15));
await warmAppliance();
const f1 = (x: number) => x.toFixed(1);
const sections: string[] = [];
const ratios: string[] = [];
let failed = false;
for (const variant of VARIANTS_RUN) {
  const { img, note: diskNote } = await sourceDisk(variant);
  const dir = join(root, variant);
  mkdirSync(dir, { recursive: true });
  log(`${variant}: source disk ${img.disk.disk} (${diskNote}); ${installed}; ${inPlace ? `virt-v2v-in-place at ${inPlace}` : "no virt-v2v-in-place in Debian's virt-v2v: virt-v2v -i disk -o null stands in"}; work in ${dir}`);
  const before = await peerRun(dir, 1, img.disk.disk, inPlace);
  const ours = await ourRun(variant, img);
  const after = await peerRun(dir, 2, img.disk.disk, inPlace);
  failed ||= !before.ok || !ours.ok || !after.ok;
  const peerMean = (before.wallS + after.wallS) / 2;
  const ratio = ours.wallS / peerMean;
  const aim = AIMS[variant];
  const table = [
    "| run | wall (s) | peak memory (MiB) | load average before / after (1, 5, 15 min) | outcome |",
    "|---|---|---|---|---|",
    ...[before, ours, after].map((x) => `| ${x.what} | ${f1(x.wallS)} | ${x.peakMiB.toFixed(0)} (${x.peakAt}) | ${x.loadBefore} / ${x.loadAfter} | ${x.ok ? "ok" : "FAILED"}${x.note ? `; ${x.note}` : ""} |`),
  ].join("\n");
  const summary = [
    `stage 1 ${f1(ours.wallS)} s (fixup disk boot ${f1(ours.bootS ?? NaN)} s + BEGIN to END ${f1(ours.stage1S ?? NaN)} s, of which the guest's own tools ${f1(ours.guestToolsS ?? NaN)} s)`,
    `peer ${f1(before.wallS)} s and ${f1(after.wallS)} s, mean ${f1(peerMean)} s`,
    `ratio stage 1 / peer = ${ratio.toFixed(2)} (${ratio <= 1 ? `${(1 / ratio).toFixed(2)}x faster` : `${ratio.toFixed(2)}x slower`})${aim !== undefined ? `; the issue's aim ${aim}: ${ratio <= aim ? "met" : "not met"}` : ""}; peak memory ${ours.peakMiB.toFixed(0)} MiB against ${Math.max(before.peakMiB, after.peakMiB).toFixed(0)} MiB`,
  ].join("\n");
  ratios.push(`| ${variant} | ${f1(ours.wallS)} | ${f1(peerMean)} | ${ratio.toFixed(2)} | ${aim ?? "-"} |`);
  console.log(`${variant}\n${table}\n\n${summary}\n`);
  sections.push(`## ${variant}

Source disk: ${img.disk.disk}, ${diskNote}.

${table}

${summary}

### Where stage 1's time went (result.json timings)

${ours.breakdown}`);
}
const md = `# virt-v2v side by side (issue 13)

Last run ${new Date().toISOString()} on ${cpus().length} vCPUs (${cpus()[0]?.model ?? "?"}), ${(totalmem() / 2 ** 30).toFixed(0)} GiB, QEMU TCG everywhere.
\`npm run bench:peer [VARIANT...]\` (\`node bench/peer.ts\`) rewrites this file. For each variant, one
run after another on qcow2 overlays of the same cached source disk: the peer, stage 1, the peer.

- peer: ${inPlace ? "`virt-v2v-in-place -i disk -if qcow2 OVERLAY`" : "Debian's virt-v2v has no virt-v2v-in-place: `virt-v2v -i disk -if qcow2 OVERLAY -o null` stands in (it converts a copy and throws it away)"},
  LIBGUESTFS_BACKEND=direct, LIBGUESTFS_BACKEND_SETTINGS=force_tcg; wall from its start to its exit (appliance boot included)
- stage 1: the fixup disk's power-on to END, as bench:e2e runs it (guest with 2 vCPUs, 1 GiB)
- peak memory: the largest sum of VmRSS, sampled every 250 ms from /proc: for the peer its whole
  process tree (virt-v2v, the appliance's qemu, nbdkit), for stage 1 the fixup VM's qemu process
- packages: ${installed}
- the load average is the machine's: other work ran beside this run, so compare the figures within a variant's run

| variant | stage 1 (s) | peer, mean of 2 (s) | ratio | the issue's aim |
|---|---|---|---|---|
${ratios.join("\n")}

${sections.join("\n\n")}
`;
writeFileSync(join(REPO, "bench/peer-results.md"), md);
if (failed) process.exitCode = 1;

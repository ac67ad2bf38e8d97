// Issue 13: the backup of what grub-install may rewrite (one file per platform module, 303 on
// deb12) before it runs. One by one, each backup cost a file fsync, a directory fsync and a
// journal fsync; batched, the backups' fsyncs are issued together and journaled in one append.
// Both ways on the same tree, on this machine's disk (/var/tmp), in one run: the ratio is the figure.
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { GuestRoot } from "../src/guest/guest-root.ts";
import { Journal } from "../src/engine/journal.ts";

const N = 303;

async function once(batched: boolean): Promise<number> {
  const root = await mkdtemp("/var/tmp/osam-bench-backup-");
  try {
    await mkdir(join(root, "boot/grub/i386-pc"), { recursive: true });
    const paths: string[] = [];
    for (let i = 0; i < N; i++) {
      const p = `/boot/grub/i386-pc/mod${i}.mod`;
      await writeFile(join(root, p), Buffer.alloc(4096 + i, i % 251));
      paths.push(p);
    }
    const j = await Journal.read(new GuestRoot(root));
    await j.begin("bench");
    const t0 = performance.now();
    if (batched) await j.saveOriginals(paths);
    else for (const p of paths) await j.saveOriginal(p);
    return performance.now() - t0;
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

export async function benchExecBackup(): Promise<string> {
  const one = await once(false);
  const batch = await once(true);
  return [
    `| back up ${N} grub-install outputs one by one (3 fsyncs each) | ${one.toFixed(0)} ms |`,
    `| the same, batched (fsyncs together, one journal append) | ${batch.toFixed(0)} ms |`,
    `| ratio | ${(one / batch).toFixed(1)}x faster |`,
  ].join("\n");
}

// Small partitioned disks on loop devices for the discovery and mount tests. The kernel here
// does not always create the partition nodes on losetup -P (no udev); partx adds them.
import { execa } from "execa";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";

const SCRATCH = "/var/tmp/osam-storage";

export function scratch(prefix: string): string {
  mkdirSync(SCRATCH, { recursive: true });
  return mkdtempSync(join(SCRATCH, prefix));
}

export function mountsUnder(dir: string): string[] {
  return readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .map((l) => l.split(" ")[4] ?? "")
    .filter((p) => p === dir || p.startsWith(dir + "/"));
}

export interface PartSpec {
  /** sfdisk size (e.g. 64M); empty: the rest of the disk. */
  size: string;
  type: string;
  bootable?: boolean;
}

export class LoopDisk {
  readonly file: string;
  readonly device: string;
  private constructor(file: string, device: string) {
    this.file = file;
    this.device = device;
  }

  static async create(file: string, size: string, parts: PartSpec[], label: "dos" | "gpt" = "dos"): Promise<LoopDisk> {
    await execa("truncate", ["-s", size, file]);
    const script = `label: ${label}\n` + parts.map((p) => `${p.size ? `size=${p.size}, ` : ""}type=${p.type}${p.bootable ? ", bootable" : ""}`).join("\n") + "\n";
    await execa("sfdisk", ["-q", file], { input: script });
    const dev = (await execa("losetup", ["-f", "--show", "-P", file])).stdout.trim();
    const d = new LoopDisk(file, dev);
    if (!existsSync(d.part(1))) await execa("partx", ["-a", dev], { reject: false });
    for (let i = 0; i < 50 && !existsSync(d.part(parts.length)); i++) await new Promise((r) => setTimeout(r, 100));
    if (!existsSync(d.part(parts.length))) throw new Error(`no partition nodes for ${dev}`);
    return d;
  }

  part(n: number): string {
    return `${this.device}p${n}`;
  }

  async destroy(): Promise<void> {
    await execa("losetup", ["-d", this.device], { reject: false });
    rmSync(this.file, { force: true });
  }
}

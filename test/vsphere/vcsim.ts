// Starts vcsim (scripts/build-vcsim.sh) with the docker shim on PATH, so its guest operations
// work on plain directories under guestRoot, and offers a few test-side VIM calls.
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { esc, moXml, text, toRef, VimClient } from "../../src/manager/drivers/vsphere/soap.ts";

const root = join(import.meta.dirname, "../..");

export interface Vcsim {
  /** The SDK URL without credentials. */
  url: string;
  user: string;
  password: string;
  guestRoot: string;
  proc: ChildProcess;
  /** The end of vcsim's stderr (panics show there). */
  stderr(): string;
  stop(): Promise<void>;
}

export function buildVcsim(): string {
  const out = execFileSync("bash", [join(root, "scripts/build-vcsim.sh")], { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] });
  const bin = out.trim().split("\n").pop();
  if (!bin) throw new Error("build-vcsim.sh printed no path");
  return bin;
}

export async function startVcsim(o: { tls?: boolean } = {}): Promise<Vcsim> {
  const bin = buildVcsim();
  const guestRoot = mkdtempSync("/var/tmp/osam-vcsim-guests-");
  const proc = spawn(bin, ["-addr", "127.0.0.1:0", ...(o.tls ? ["-tls"] : [])], {
    env: { ...process.env, PATH: `${join(root, "test/vsphere/shim")}:${process.env.PATH ?? ""}`, VCSIM_GUEST_ROOT: guestRoot },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  proc.stderr?.on("data", (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-20000);
  });
  const url = await new Promise<string>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`vcsim did not start: ${stderr}`)), 30_000);
    proc.once("exit", (c) => reject(new Error(`vcsim exited ${c}: ${stderr}`)));
    const rl = createInterface({ input: proc.stdout });
    rl.on("line", (l) => {
      const m = /^URL (\S+)/.exec(l);
      if (m?.[1]) {
        clearTimeout(t);
        resolve(m[1]);
      }
    });
  });
  const u = new URL(url);
  const user = decodeURIComponent(u.username);
  const password = decodeURIComponent(u.password);
  u.username = "";
  u.password = "";
  return {
    url: u.toString(),
    user,
    password,
    guestRoot,
    proc,
    stderr: () => stderr,
    stop: async () => {
      if (proc.exitCode === null) {
        proc.kill("SIGTERM");
        await new Promise((r) => proc.once("exit", r));
      }
      rmSync(guestRoot, { recursive: true, force: true });
    },
  };
}

/** A logged-in client for the test side (creating disks, reading VM state). */
export async function testClient(v: Vcsim, insecure = false): Promise<VimClient> {
  const c = new VimClient(v.url, { insecure });
  await c.connect(v.user, v.password);
  return c;
}

/** Creates an (empty, thin) VMDK on the simulated datastore: the replicas and the fixup disk. */
export async function createDisk(c: VimClient, path: string, kb = 1024): Promise<void> {
  const dcs = await c.propsOfAll("Datacenter", ["name"]);
  const dc = dcs[0]?.obj;
  if (!dc) throw new Error("no datacenter");
  const dir = /^\[[^\]]+\] ?(.*)\/[^/]+$/.exec(path)?.[1];
  const ds = /^\[[^\]]+\]/.exec(path)?.[0];
  if (dir && ds) {
    await c.call("MakeDirectory", c.ref("fileManager"), `<name>${esc(`${ds} ${dir}`)}</name>${moXml("datacenter", dc)}<createParentDirectories>true</createParentDirectories>`).catch(() => undefined);
  }
  const task = toRef(
    await c.call(
      "CreateVirtualDisk_Task",
      c.ref("virtualDiskManager"),
      `<name>${esc(path)}</name>${moXml("datacenter", dc)}<spec xsi:type="FileBackedVirtualDiskSpec"><diskType>thin</diskType><adapterType>lsiLogic</adapterType><capacityKb>${kb}</capacityKb></spec>`,
    ),
  );
  await c.waitTask(task, "CreateVirtualDisk_Task");
}

export { text };

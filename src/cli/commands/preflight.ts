// osam-fixup preflight: is this source ready to migrate? Read-only, bounded in time.
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { FIXUP_FILES } from "../../protocol/files.ts";
import { formatZodError, parseInput } from "../../protocol/inputs.ts";
import { NetworkInterfaceMap, ReplicaDiskMap, SystemConfiguration } from "../../protocol/schemas.ts";
import type { z } from "zod";
import { runPreflight, renderPreflight } from "../../preflight/preflight.ts";
import { Logger } from "../../util/log.ts";
import { type Command, UsageError, noPositionals, parse, str } from "../args.ts";
import { preflightScript } from "../../sentinel/render.ts";
import { checkRoot } from "./common.ts";
import { CollectError, runCollect } from "./collect.ts";

const usage = `Usage: osam-fixup preflight [--root DIR] [--inventory FILE] [--json] [--out DIR]
                            [--disk-map FILE] [--nic-map FILE]
                            [--controller pvscsi|lsilogic|lsisas] [--nic-model vmxnet3|e1000e|e1000]
                            [--firmware bios|uefi] [--timeout S]
       osam-fixup preflight --print-script > preflight.sh

Run on the live source before replication (as root), or against a mounted tree with --root.
It collects the inventory (as collect does), inspects the guest, plans stage 1 for the target
hardware with the maps that target would get (every disk in order, every physical NIC named
eth0, eth1... with its MAC kept), audits what the plan would leave behind, and prints a
verdict: ready, ready with warnings, or blocked, with every finding's code, file and line,
why it matters on the target and what to do.

It writes nothing and changes nothing: stage 1 only plans (no command runs in the guest), and
the only process it starts is the collect script on a live source (lsblk, blkid, ip and
reading files).

  --root DIR         check a mounted tree instead of / (the inventory then comes from
                     --inventory, or from the tree's own files)
  --inventory FILE   the source part of system-configuration.json, as collect printed it
  --json             print the report as JSON (docs/schemas/preflight-report.schema.json)
  --out DIR          also write DIR/preflight-report.json and DIR/source.json (the source
                     part of system-configuration.json, for the manager's spec)
  --disk-map FILE    the replica-disk-map.json the target will get (default: every source
                     disk in order, the boot disk at scsi0:0)
  --nic-map FILE     the network-interface-map.json the target will get (default: every
                     physical NIC, its MAC kept, named eth0, eth1...); a NIC left out of it
                     is reported as the migration would report it
  --controller C     the target's disk controller (default pvscsi)
  --nic-model M      the target's NIC model (default vmxnet3)
  --firmware F       the target's firmware (default: the source's)
  --timeout S        give up after S seconds (default 300)
  --print-script     print the POSIX sh fallback instead: for a source whose glibc is older
                     than 2.28, where this binary cannot start. Run
                     osam-fixup preflight --print-script > preflight.sh on any host, then
                     sh preflight.sh on the source (as root; it takes --controller,
                     --nic-model and --firmware too). It prints the same JSON report with the
                     inventory and the checks that need no inspection (kernel drivers, LUKS,
                     free space, cloud-init, SELinux), and lists the checks it skipped (the
                     stage-1 plan, the residue audit, ...)

Exit status: 0 ready or ready with warnings, 1 blocked (or it could not finish), 2 bad usage.`;

const Target = SystemConfiguration.shape.target;

/** A map given by flag, checked as the agent checks it; a bad one is bad usage. */
function readMap<S extends z.ZodType>(file: string | undefined, flag: string, name: string, schema: S): z.output<S> | undefined {
  if (file === undefined) return undefined;
  try {
    return parseInput(name, schema, readFileSync(resolve(file)));
  } catch (e) {
    throw new UsageError(`${flag} ${file}: ${(e as Error).message}`);
  }
}

export const preflightCommand: Command = {
  name: "preflight",
  summary: "check a source before replication: ready, ready with warnings, or blocked",
  usage,
  async run(argv) {
    const { values, positionals, help } = parse(
      argv,
      { root: { type: "string" }, inventory: { type: "string" }, "disk-map": { type: "string" }, "nic-map": { type: "string" }, json: { type: "boolean" }, out: { type: "string" }, controller: { type: "string" }, "nic-model": { type: "string" }, firmware: { type: "string" }, timeout: { type: "string" }, "print-script": { type: "boolean" }, verbose: { type: "boolean", short: "v" } },
      usage,
    );
    if (help) {
      console.log(usage);
      return 0;
    }
    noPositionals(positionals, usage);
    if (values["print-script"]) {
      process.stdout.write(preflightScript());
      return 0;
    }
    const live = values.root === undefined;
    const root = live ? "/" : checkRoot(String(values.root));
    const t = Target.partial().safeParse({ scsiController: str(values.controller), nicModel: str(values["nic-model"]), firmware: str(values.firmware) });
    if (!t.success) throw new UsageError(`${formatZodError("target", t.error)}\n\n${usage}`);
    const timeoutS = values.timeout === undefined ? 300 : Number(values.timeout);
    if (!Number.isFinite(timeoutS) || timeoutS <= 0) throw new UsageError(`--timeout ${String(values.timeout)}: give a number of seconds\n\n${usage}`);
    const log = new Logger({ keep: false, ...(values.verbose ? { echo: (l: string) => process.stderr.write(l + "\n") } : {}) });

    let source: SystemConfiguration["source"] | undefined;
    const inventory = str(values.inventory);
    if (inventory !== undefined) {
      let json: unknown;
      try {
        json = JSON.parse(readFileSync(resolve(inventory), "utf8"));
      } catch (e) {
        throw new UsageError(`--inventory ${inventory}: ${(e as Error).message}`);
      }
      const r = SystemConfiguration.shape.source.safeParse(json);
      if (!r.success) throw new UsageError(`--inventory ${inventory}: ${formatZodError("source", r.error)}`);
      source = r.data;
    } else if (live) {
      try {
        source = (await runCollect({ timeoutMs: Math.min(120, timeoutS) * 1000 })).source;
      } catch (e) {
        if (!(e instanceof CollectError)) throw e;
        process.stderr.write(`preflight: the inventory could not be collected (${e.message}); going on with what the files say\n`);
      }
    }

    const maps = { disks: readMap(str(values["disk-map"]), "--disk-map", FIXUP_FILES.replicaDiskMap, ReplicaDiskMap), network: readMap(str(values["nic-map"]), "--nic-map", FIXUP_FILES.networkInterfaceMap, NetworkInterfaceMap) };

    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`preflight did not finish in ${timeoutS} s`)), timeoutS * 1000);
    });
    let report;
    try {
      report = await Promise.race([runPreflight({ root, source, target: t.data, maps, log }), timeout]);
    } catch (e) {
      process.stderr.write(`preflight: ${(e as Error).message}\n`);
      return 1;
    } finally {
      clearTimeout(timer);
    }
    if (live && source === undefined) report.findings.unshift({ code: "INVENTORY_FAILED", severity: "warning", why: "the collect script failed, so block devices and live addresses are not known; the checks used the files alone", todo: "run osam-fixup collect as root to see why" });
    const out = str(values.out);
    if (out !== undefined) {
      const dir = resolve(out);
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, "preflight-report.json"), JSON.stringify(report, null, 2) + "\n");
      writeFileSync(join(dir, "source.json"), JSON.stringify(source ?? { firmware: report.target.firmware }, null, 2) + "\n");
    }
    process.stdout.write(values.json ? JSON.stringify(report, null, 2) + "\n" : renderPreflight(report));
    return report.verdict === "blocked" ? 1 : 0;
  },
};

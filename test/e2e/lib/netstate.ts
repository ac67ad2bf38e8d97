// The network facts the bridge and bond test images print on their console before their work
// (test/images/variants/virtual-links.sh, e2e-netstate): "E2E-NET ..." lines, then
// "E2E-NET-DONE". Read from the first boot on virtio (the source's own tools, source names)
// and from the migrated guest (vmxnet3, new names), and checked against the image's metadata.
import assert from "node:assert/strict";
import type { ImageMeta } from "../../helpers/images.ts";

export interface NetLink {
  name: string;
  kind: "physical" | "bridge" | "bond" | "virtual";
  mac: string;
  /** The NIC's own MAC (a bond's port carries the bond's in `mac`). */
  perm: string;
  driver: string;
  master: string;
}

export interface NetState {
  links: NetLink[];
  /** interface -> IPv4 addresses with prefix */
  ipv4: Record<string, string[]>;
  /** `ip -4 route show default` lines */
  routes: string[];
  bonds: Record<string, { mode: string; primary: string; active: string }>;
  /** "ok": every expected address came up; "missing": the script gave up waiting. */
  done: string;
}

function fields(words: string[]): Record<string, string> {
  return Object.fromEntries(words.map((w) => [w.slice(0, w.indexOf("=")), w.slice(w.indexOf("=") + 1)]));
}

/** The last complete report in a serial log (one boot's), or undefined. */
export function parseNetState(serial: string): NetState | undefined {
  let cur: NetState = { links: [], ipv4: {}, routes: [], bonds: {}, done: "" };
  let last: NetState | undefined;
  for (const raw of serial.split(/\r?\n/)) {
    const m = /E2E-NET(-DONE)? (.*)$/.exec(raw);
    if (!m) continue;
    const rest = m[2]!.trim();
    if (m[1]) {
      last = { ...cur, done: rest };
      cur = { links: [], ipv4: {}, routes: [], bonds: {}, done: "" };
      continue;
    }
    const [what = "", name = "", ...words] = rest.split(/\s+/);
    if (what === "link") {
      const f = fields(words);
      cur.links.push({ name, kind: (f.kind ?? "virtual") as NetLink["kind"], mac: (f.mac ?? "").toLowerCase(), perm: (f.perm ?? "").toLowerCase(), driver: f.driver ?? "", master: f.master ?? "" });
    } else if (what === "addr" && words[0]) {
      (cur.ipv4[name] ??= []).push(words[0]);
    } else if (what === "route") {
      cur.routes.push([name, ...words].join(" "));
    } else if (what === "bond") {
      const f = fields(words);
      cur.bonds[name] = { mode: f.mode ?? "", primary: f.primary ?? "", active: f.active ?? "" };
    }
  }
  return last;
}

/**
 * The image's bridges and bonds as `ns` shows them: each exists with its kind, its ports are
 * exactly the NICs that were its ports (`nameOf`: source name -> the name expected now), each
 * a physical NIC with its own MAC (`macOf`: source name -> MAC expected now) on `driver`; it
 * carries the static address (and no port does); the default route leaves through it to the
 * gateway; a bond keeps its mode and primary port.
 */
export function assertVirtualNet(ns: NetState | undefined, meta: ImageMeta, nameOf: (src: string) => string, macOf: (src: string) => string, driver: string, at: string): void {
  assert.ok(ns, `no E2E-NET report on the console ${at}`);
  assert.equal(ns.done, "ok", `the expected address never came up (E2E-NET-DONE ${ns.done}) ${at}: ${JSON.stringify(ns)}`);
  for (const v of meta.virtual ?? []) {
    const dev: NetLink | undefined = ns.links.find((l) => l.name === v.name);
    assert.ok(dev, `no ${v.kind} ${v.name}; links: ${ns.links.map((l) => `${l.name}(${l.kind})`).join(" ")} ${at}`);
    assert.equal(dev.kind, v.kind, `${v.name} is a ${dev.kind}, not a ${v.kind} ${at}`);
    const ports = ns.links.filter((l) => l.master === v.name).map((l) => ({ name: l.name, kind: l.kind, perm: l.perm, driver: l.driver })).sort((a, b) => a.name.localeCompare(b.name));
    const want = v.ports.map((p) => ({ name: nameOf(p), kind: "physical", perm: macOf(p), driver })).sort((a, b) => a.name.localeCompare(b.name));
    assert.deepEqual(ports, want, `the ports of ${v.name} ${at}`);
    assert.deepEqual(ns.ipv4[v.name], [v.ipv4], `the addresses of ${v.name} ${at}: ${JSON.stringify(ns.ipv4)}`);
    for (const p of v.ports) assert.equal(ns.ipv4[nameOf(p)], undefined, `the port ${nameOf(p)} carries an address of its own ${at}`);
    if (v.gateway) {
      const gw = v.gateway;
      assert.ok(ns.routes.some((r) => r.startsWith(`default via ${gw} dev ${v.name}`)), `no default route via ${gw} dev ${v.name}: ${JSON.stringify(ns.routes)} ${at}`);
    }
    if (v.kind === "bond") {
      const b: NetState["bonds"][string] | undefined = ns.bonds[v.name];
      assert.ok(b, `no bonding facts for ${v.name} ${at}`);
      assert.equal(b.mode, v.mode, `${v.name}'s mode ${at}`);
      if (v.primary) {
        assert.equal(b.primary, nameOf(v.primary), `${v.name}'s primary port ${at}`);
        assert.equal(b.active, nameOf(v.primary), `${v.name}'s active port (its primary is up) ${at}`);
      }
    }
  }
}

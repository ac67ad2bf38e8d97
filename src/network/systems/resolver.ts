// Name resolution and DHCP client settings that name interfaces: a static /etc/resolv.conf and
// systemd-resolved's resolved.conf (an IPv6 link-local server is reached through an interface:
// fe80::1%ens3), and dhclient's configuration (interface "ens3" { ... } blocks, and RHEL's
// per-interface /etc/dhcp/dhclient-<if>.conf). Per-link DNS of networkd, NetworkManager,
// ifcfg or ifupdown lives in those systems' own files and follows them there.
import { posix } from "node:path";
import type { GuestView } from "../../guest/view.ts";
import { renameOne, renameWords } from "../names.ts";
import { BACKUP, editNonComment, filesIn, netSystem, rewriteFiles } from "./system.ts";

const RESOLV = "/etc/resolv.conf";
const RESOLVED = "/etc/systemd/resolved.conf";
const RESOLVED_D = "/etc/systemd/resolved.conf.d";
const DHCP_DIR = "/etc/dhcp";
const DHCLIENT = ["/etc/dhcp/dhclient.conf", "/etc/dhcp/dhclient6.conf", "/etc/dhclient.conf"];
/** RHEL's per-interface dhclient files: dhclient-ens3.conf, dhclient6-ens3.conf. */
const PER_IF = /^(dhclient6?-)(.+)(\.conf)$/;

async function regular(view: GuestView, files: string[]): Promise<string[]> {
  const out: string[] = [];
  // a resolv.conf that links to resolved's stub or NetworkManager's file is theirs, not the guest's own
  for (const f of files) if ((await view.kind(f)) === "file") out.push(f);
  return out;
}

export const resolver = netSystem({
  name: "resolver",
  files: [RESOLV, RESOLVED, `${RESOLVED_D}/*.conf`, ...DHCLIENT, `${DHCP_DIR}/dhclient-*.conf`, `${DHCP_DIR}/dhclient6-*.conf`],

  async inspect(view, add) {
    for (const f of await filesIn(view, DHCP_DIR, (n) => PER_IF.test(n) && !BACKUP.test(n))) add(PER_IF.exec(posix.basename(f))![2], f);
  },

  rewrite: rewriteFiles(
    {
      list: async (view) => [...(await regular(view, [RESOLV, RESOLVED, ...DHCLIENT])), ...(await filesIn(view, RESOLVED_D, (n) => n.endsWith(".conf")))],
      edit: (before, file, r) => ({ after: editNonComment(before, (l) => renameWords(l, r.names)), why: `${file} names the renamed interfaces (link-local servers, dhclient interface blocks)` }),
    },
    {
      list: (view) => filesIn(view, DHCP_DIR, (n) => PER_IF.test(n) && !BACKUP.test(n)),
      edit(before, file, r) {
        const m = PER_IF.exec(posix.basename(file))!;
        const to = renameOne(m[2]!, r.names);
        return { to: posix.join(DHCP_DIR, `${m[1]}${to}${m[3]}`), after: editNonComment(before, (l) => renameWords(l, r.names)), why: `dhclient settings of ${m[2]} follow it to ${to}` };
      },
    },
  ),
});

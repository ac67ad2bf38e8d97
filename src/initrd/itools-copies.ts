// The guest files an initramfs-tools build copies into its image, and where: its udev hook
// copies /etc/udev/rules.d/*.rules that no package rule of the same name shadows into
// lib/udev/rules.d (so the NIC pins stage 1 writes travel there, not to etc/), and every .link
// file of /lib and /etc/systemd/network into lib/systemd/network; mkinitramfs copies
// /etc/modprobe.d and /lib/modprobe.d; the lvm2 and mdadm hooks copy lvm.conf and mdadm.conf.
// An image whose copies are not the guest's current files is out of date the way a rebuild
// would not be. A copy whose source the guest no longer has cannot be taken out of an image by
// adding to it: only a rebuild drops it. mkinitramfs also copies its own configuration
// (initramfs.conf, conf.d) into conf/.
import { posix } from "node:path";
import type { GuestView } from "../guest/view.ts";
import { resolveInImage, type ImageContents } from "./image.ts";

/** Archive names a caller of readInitramfs must keep for itoolsCopies to compare them. */
export function isItoolsCopy(name: string): boolean {
  return /(^|\/)(udev\/rules\.d|systemd\/network|modprobe\.d)\/[^/]+$/.test(name) || /^conf\/(conf\.d\/[^/]+|initramfs\.conf)$/.test(name) || SAME_PATH.test(name);
}

export interface ItoolsCopies {
  /** Image path (as stored, links resolved) -> the guest's current content, where they differ. */
  put: Map<string, Buffer>;
  /** Why adding files cannot bring the image up to date (a copy the guest no longer has). */
  blocker?: string;
}

interface CopyDir {
  /** The directory in the image, as a rebuild names it (before links). */
  image: string;
  /** The guest directories it is filled from, a later one replacing an earlier one's file. */
  sources: string[];
  pattern: RegExp;
  /** Hooks write files of their own there too (conf/conf.d/root, zz-resume-auto): one without a source is no stale copy. */
  hooksWrite?: true;
}

const UDEV_RULES = "lib/udev/rules.d";
const DIRS: CopyDir[] = [
  { image: UDEV_RULES, sources: ["/lib/udev/rules.d", "/etc/udev/rules.d"], pattern: /\.rules$/ },
  { image: "lib/systemd/network", sources: ["/lib/systemd/network", "/etc/systemd/network"], pattern: /\.link$/ },
  { image: "etc/modprobe.d", sources: ["/etc/modprobe.d"], pattern: /\.conf$/ },
  { image: "lib/modprobe.d", sources: ["/lib/modprobe.d"], pattern: /\.conf$/ },
  // mkinitramfs's own conf.d (the resume device that device-refs rewrites): names as its maybe_add_conf takes them
  { image: "conf/conf.d", sources: ["/usr/share/initramfs-tools/conf.d", "/etc/initramfs-tools/conf.d"], pattern: /^(?!.*\.dpkg-)[A-Za-z0-9][A-Za-z0-9._-]*$/, hooksWrite: true },
];
/** Copied whole by the lvm2 and mdadm hooks: a held file's source is the guest's file of the same path. */
const SAME_PATH = /^etc\/((lvm|mdadm)\/[^/]+|mdadm\.conf)$/;
/** Copied by mkinitramfs under another name. */
const RENAMED: Record<string, string> = { "conf/initramfs.conf": "/etc/initramfs-tools/initramfs.conf" };

/** The copies an image holds, by image path, in the places a rebuild fills with the guest's files alone. */
function heldCopies(img: ImageContents): string[] {
  const dirs = new Set(DIRS.filter((d) => !d.hooksWrite).map((d) => resolveInImage(img, d.image)).filter((d): d is string => d !== undefined));
  const held: string[] = [];
  for (const [name, e] of img.entries) if (e.kind === "file" && (dirs.has(posix.dirname(name)) || SAME_PATH.test(name))) held.push(name);
  return held.sort();
}

/** What a rebuild would copy into the image, by image path (links resolved): the guest's current files. */
async function expectedCopies(view: GuestView, img: ImageContents): Promise<Map<string, Buffer>> {
  const want = new Map<string, Buffer>();
  for (const d of DIRS) {
    const dir = resolveInImage(img, d.image);
    if (dir === undefined) continue;
    for (const src of d.sources) {
      for (const n of (await view.readdir(src)).filter((x) => d.pattern.test(x)).sort()) {
        const at = posix.join(dir, n);
        // the udev hook copies a fixed list of package rules (those the image holds are
        // refreshed), and an /etc rule unless a package rule of its name shadows it
        if (d.image === UDEV_RULES && (src.startsWith("/lib") ? !img.entries.has(at) : await view.exists(`/lib/udev/rules.d/${n}`))) continue;
        const data = await view.readBytes(posix.join(src, n));
        if (data) want.set(at, data);
      }
    }
  }
  for (const name of heldCopies(img).filter((n) => SAME_PATH.test(n))) {
    const data = await view.readBytes(`/${name}`);
    if (data) want.set(name, data);
  }
  for (const [name, src] of Object.entries(RENAMED)) {
    const at = resolveInImage(img, name);
    const data = at !== undefined && img.entries.has(at) ? await view.readBytes(src) : undefined;
    if (data) want.set(at!, data);
  }
  return want;
}

/** How the image's copies of guest files differ from what a rebuild would copy now. */
export async function itoolsCopies(view: GuestView, img: ImageContents): Promise<ItoolsCopies> {
  const want = await expectedCopies(view, img);
  const put = new Map<string, Buffer>();
  for (const [at, data] of want) if (!img.files.get(at)?.equals(data)) put.set(at, data);
  const gone = heldCopies(img).filter((n) => !want.has(n));
  const out: ItoolsCopies = { put };
  if (gone.length) out.blocker = `its ${gone.join(", ")} ${gone.length > 1 ? "have" : "has"} no source in the guest any more`;
  return out;
}

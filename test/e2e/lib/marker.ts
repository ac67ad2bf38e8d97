// The facts a test image prints on ttyS0 when it reaches multi-user.target
// (test/images/guest/e2e-marker): one line "E2E-MARKER {json}".
export interface MarkerLink {
  name: string;
  mac: string;
  driver: string;
}

export interface Marker {
  root: string;
  rootFstype: string;
  rootOptions: string;
  /** The disk (or partition) under the root file system, through dm/md. */
  rootBlock: string;
  /** SCSI address host:channel:target:lun of that disk, when it is a SCSI disk. */
  rootHctl: string;
  /** The PCI driver the root disk hangs off (vmw_pvscsi, virtio-pci, nvme...). */
  rootDriver: string;
  links: MarkerLink[];
  /** interface -> addresses with prefix */
  ipv4: Record<string, string[]>;
  defaultTarget: string;
  state: string;
  failed: string[];
  virt: string;
  osamFiles: string[];
  cmdline: string;
  uptime: string;
}

interface RawMarker extends Omit<Marker, "links" | "ipv4"> {
  links: string[];
  ipv4: string[];
}

const MARKER_RE = /E2E-MARKER (\{.*\})\s*$/;

/** The last marker in a serial log, or undefined when the guest never printed one. */
export function parseMarker(serial: string): Marker | undefined {
  let found: RawMarker | undefined;
  for (const line of serial.split(/\r?\n/)) {
    const m = MARKER_RE.exec(line);
    if (!m?.[1]) continue;
    try {
      found = JSON.parse(m[1]) as RawMarker;
    } catch {
      // a kernel message interleaved with the line; an intact one may follow
    }
  }
  if (!found) return undefined;
  const links = found.links.map((l) => {
    const [name = "", mac = "", driver = ""] = l.split(",");
    return { name, mac: mac.toLowerCase(), driver };
  });
  const ipv4: Record<string, string[]> = {};
  for (const a of found.ipv4) {
    const [dev = "", addr = ""] = a.split("=");
    (ipv4[dev] ??= []).push(addr);
  }
  return { ...found, links, ipv4 };
}

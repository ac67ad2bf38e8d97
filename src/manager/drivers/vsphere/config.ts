// vSphere connection settings. Credentials come from the environment or a file readable only
// by its owner, never from the command line (visible in ps) and never into a log.
import { readFile, stat } from "node:fs/promises";

export interface VsphereDriverOptions {
  /** https://vcenter.example/sdk */
  url: string;
  user: string;
  password: string;
  /** Account inside the fixup VM for guest operations. */
  guestUser: string;
  guestPassword: string;
  /** Skip TLS certificate verification (explicit opt-in). */
  insecure?: boolean;
  datacenter?: string;
  /** Inventory path of the resource pool, e.g. /DC0/host/Cluster/Resources. */
  pool?: string;
  /** Inventory path of the VM folder, e.g. /DC0/vm. */
  folder?: string;
  datastore?: string;
  /** Milliseconds between task/property polls. */
  pollMs?: number;
  /** extraConfig options set on every new VM (site policy), from OSAM_VSPHERE_EXTRA_CONFIG (a JSON object). */
  extraConfig?: Record<string, string>;
}

export interface VsphereFlags {
  url?: string | undefined;
  credentialsFile?: string | undefined;
  datacenter?: string | undefined;
  pool?: string | undefined;
  folder?: string | undefined;
  datastore?: string | undefined;
  insecure?: boolean;
}

interface CredFile {
  user?: string;
  password?: string;
  guestUser?: string;
  guestPassword?: string;
}

export async function vsphereOptionsFromEnv(env: NodeJS.ProcessEnv, f: VsphereFlags): Promise<VsphereDriverOptions> {
  let file: CredFile = {};
  if (f.credentialsFile) {
    const st = await stat(f.credentialsFile).catch(() => undefined);
    if (!st) throw new Error(`--vsphere-credentials ${f.credentialsFile}: no such file`);
    if (st.mode & 0o077) throw new Error(`--vsphere-credentials ${f.credentialsFile}: readable by others (mode ${(st.mode & 0o777).toString(8)}); chmod 600 it`);
    try {
      file = JSON.parse(await readFile(f.credentialsFile, "utf8")) as CredFile;
    } catch (e) {
      throw new Error(`--vsphere-credentials ${f.credentialsFile}: not valid JSON (${(e as Error).name})`);
    }
  }
  const url = f.url ?? env.OSAM_VSPHERE_URL;
  const user = file.user ?? env.OSAM_VSPHERE_USER;
  const password = file.password ?? env.OSAM_VSPHERE_PASSWORD;
  const guestUser = file.guestUser ?? env.OSAM_GUEST_USER ?? "root";
  const guestPassword = file.guestPassword ?? env.OSAM_GUEST_PASSWORD ?? "";
  if (!url) throw new Error("the vsphere driver needs --vsphere-url or OSAM_VSPHERE_URL");
  if (!/^https?:\/\//.test(url)) throw new Error(`--vsphere-url ${url}: must be an http(s) URL`);
  if (!user || password === undefined) throw new Error("the vsphere driver needs credentials: OSAM_VSPHERE_USER and OSAM_VSPHERE_PASSWORD, or --vsphere-credentials FILE");
  const dc = f.datacenter ?? env.OSAM_VSPHERE_DATACENTER;
  let extraConfig: Record<string, string> | undefined;
  if (env.OSAM_VSPHERE_EXTRA_CONFIG) {
    try {
      const x = JSON.parse(env.OSAM_VSPHERE_EXTRA_CONFIG) as unknown;
      if (!x || typeof x !== "object" || Array.isArray(x) || !Object.values(x).every((v) => typeof v === "string")) throw new Error("not an object of strings");
      extraConfig = x as Record<string, string>;
    } catch (e) {
      throw new Error(`OSAM_VSPHERE_EXTRA_CONFIG: must be a JSON object of strings (${(e as Error).message})`);
    }
  }
  return {
    url,
    user,
    password,
    guestUser,
    guestPassword,
    insecure: f.insecure ?? false,
    ...(dc ? { datacenter: dc } : {}),
    ...(f.pool ? { pool: f.pool } : {}),
    ...(f.folder ? { folder: f.folder } : {}),
    ...(f.datastore ? { datastore: f.datastore } : {}),
    ...(extraConfig ? { extraConfig } : {}),
  };
}

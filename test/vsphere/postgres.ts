// A throwaway PostgreSQL cluster for the wave tests and the bench: Debian's postgresql package
// (scripts/install-deps.sh), initdb into a temporary directory, listening only on a Unix
// socket in a directory of its own. PostgreSQL refuses to run as root: as root the cluster is
// run as the postgres user (runuser), which owns the directory.
import { execFileSync } from "node:child_process";
import { chmodSync, chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { join } from "node:path";

export interface Postgres {
  /** postgres://osam@/osam?host=<socket dir> */
  url: string;
  dir: string;
  /** Stops the server (fast shutdown), waits `downMs`, starts it again. */
  restart(downMs?: number): void;
  psql(sql: string): string;
  stop(): void;
}

function binDir(): string {
  const base = "/usr/lib/postgresql";
  const versions = existsSync(base) ? readdirSync(base).filter((v) => existsSync(join(base, v, "bin/initdb"))).sort((a, b) => Number(b) - Number(a)) : [];
  if (!versions[0]) throw new Error("PostgreSQL server binaries not found under /usr/lib/postgresql (apt-get install postgresql; scripts/install-deps.sh)");
  return join(base, versions[0], "bin");
}

export function startPostgres(): Postgres {
  const bin = binDir();
  const dir = mkdtempSync("/var/tmp/osam-pg-");
  const data = join(dir, "data");
  const sock = dir;
  const asRoot = process.getuid?.() === 0;
  if (asRoot) {
    const uid = Number(execFileSync("id", ["-u", "postgres"], { encoding: "utf8" }).trim());
    const gid = Number(execFileSync("id", ["-g", "postgres"], { encoding: "utf8" }).trim());
    chownSync(dir, uid, gid);
  }
  chmodSync(dir, 0o755);
  const run = (cmd: string, args: string[]) =>
    execFileSync(asRoot ? "runuser" : cmd, asRoot ? ["-u", "postgres", "--", cmd, ...args] : args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], cwd: dir });
  run(join(bin, "initdb"), ["-D", data, "-U", "osam", "-A", "trust", "--no-sync", "-E", "UTF8"]);
  const opts = `-k ${sock} -c listen_addresses='' -c max_connections=200 -c shared_buffers=32MB`;
  const start = () => run(join(bin, "pg_ctl"), ["-D", data, "-l", join(dir, "server.log"), "-o", opts, "-w", "-t", "60", "start"]);
  start();
  const psqlAt = (db: string, sql: string) => execFileSync("psql", ["-X", "-q", "-A", "-t", "-h", sock, "-U", "osam", "-d", db, "-v", "ON_ERROR_STOP=1", "-c", sql], { encoding: "utf8" }).trim();
  psqlAt("postgres", "CREATE DATABASE osam");
  return {
    url: `postgres://osam@/osam?host=${encodeURIComponent(sock)}`,
    dir,
    restart(downMs = 2000) {
      run(join(bin, "pg_ctl"), ["-D", data, "-m", "fast", "-w", "stop"]);
      execFileSync("sleep", [String(downMs / 1000)]);
      start();
    },
    psql: (sql: string) => psqlAt("osam", sql),
    stop() {
      try {
        run(join(bin, "pg_ctl"), ["-D", data, "-m", "immediate", "-w", "stop"]);
      } catch {
        // already stopped
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

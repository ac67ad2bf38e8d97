// The tiny test guest of build-tiny-guest.sh: builds it on first use, returns its directory.
import { execFileSync } from "node:child_process";
import { join } from "node:path";

export function tinyGuest(): string {
  const out = execFileSync("bash", [join(import.meta.dirname, "build-tiny-guest.sh")], { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] });
  const dir = out.trim().split("\n").pop();
  if (!dir) throw new Error("build-tiny-guest.sh printed no directory");
  return dir;
}

// Renaming inside an ifcfg value keeps the value's shell meaning: only the characters that
// change are rewritten, so a literal stays literal and a live expansion stays live.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { ShellVars } from "../../../src/formats/shell-vars.ts";
import { renameWords } from "../../../src/network/names.ts";

const names = new Map([["ens3", "eth0"]]);

function rename(text: string, key: string): string {
  const v = new ShellVars(text);
  v.set(key, renameWords(v.get(key)!, names));
  return v.toString();
}

/** What sh makes of KEY's value, with command substitution disabled by a stub PATH. */
function shellValue(text: string, key: string): string {
  return execFileSync("/bin/sh", ["-c", `${text}\nprintf %s "$${key}"`], { env: { PATH: "/nonexistent" }, encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
}

test("an escaped \\$(...) in double quotes stays a literal", () => {
  const before = 'ETHTOOL_OPTS="-K ens3 tso off; echo \\$(id -u)"\n';
  const after = rename(before, "ETHTOOL_OPTS");
  assert.equal(after, 'ETHTOOL_OPTS="-K eth0 tso off; echo \\$(id -u)"\n');
  assert.equal(shellValue(after, "ETHTOOL_OPTS"), "-K eth0 tso off; echo $(id -u)");
});

test("a single-quoted literal stays single-quoted and literal", () => {
  const before = "ETHTOOL_OPTS='-K ens3 gro off $(reboot)'\n";
  const after = rename(before, "ETHTOOL_OPTS");
  assert.equal(after, "ETHTOOL_OPTS='-K eth0 gro off $(reboot)'\n");
  assert.equal(shellValue(after, "ETHTOOL_OPTS"), "-K eth0 gro off $(reboot)");
});

test("an escaped bare word keeps its escapes", () => {
  const before = "OPTS=\\$HOME\\ ens3\n";
  const after = rename(before, "OPTS");
  assert.equal(after, "OPTS=\\$HOME\\ eth0\n");
  assert.equal(shellValue(after, "OPTS"), "$HOME eth0");
});

test("a live $VAR in double quotes stays live, and a trailing comment stays", () => {
  const before = 'BONDING_OPTS="$BASE primary=ens3" # set by kickstart\n';
  const after = rename(before, "BONDING_OPTS");
  assert.equal(after, 'BONDING_OPTS="$BASE primary=eth0" # set by kickstart\n');
  assert.equal(shellValue(`BASE=mode=1\n${after}`, "BONDING_OPTS"), "mode=1 primary=eth0");
});

test("backticks: escaped ones stay literal, live ones stay live", () => {
  const lit = 'X="\\`id\\` ens3"\n';
  assert.equal(rename(lit, "X"), 'X="\\`id\\` eth0"\n');
  assert.equal(shellValue(rename(lit, "X"), "X"), "`id` eth0");
  const live = 'X="`printf a` ens3"\n';
  assert.equal(rename(live, "X"), 'X="`printf a` eth0"\n');
});

test("quotes and backticks in a changed part are escaped, not run", () => {
  const v = new ShellVars('NAME="System ens3"\n');
  v.set("NAME", 'System "`x`" eth0');
  assert.equal(shellValue(v.toString(), "NAME"), 'System "`x`" eth0');
  const b = new ShellVars("DEVICE=ens3\n");
  b.set("DEVICE", "eth0");
  assert.equal(b.toString(), "DEVICE=eth0\n");
});

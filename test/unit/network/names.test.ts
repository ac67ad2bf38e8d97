import { test } from "node:test";
import assert from "node:assert/strict";
import { macLike, normMac, renameInLabel, renameOne, renameWords, replaceMacs } from "../../../src/network/names.ts";

const SWAP = new Map([["eth0", "eth1"], ["eth1", "eth0"]]);

test("renameWords: whole names, VLAN and alias suffixes, paths; never chains", () => {
  const m = new Map([["ens3", "eth0"]]);
  assert.equal(renameWords("dev ens3", m), "dev eth0");
  assert.equal(renameWords("iface ens3.100 inet static", m), "iface eth0.100 inet static");
  assert.equal(renameWords("auto ens3:1", m), "auto eth0:1");
  assert.equal(renameWords("echo 1 > /sys/class/net/ens3/flags", m), "echo 1 > /sys/class/net/eth0/flags");
  assert.equal(renameWords("ens33 xens3 ens3x br-ens3 ens3-a", m), "ens33 xens3 ens3x br-ens3 ens3-a");
  assert.equal(renameWords("eth0 eth1 eth0.5", SWAP), "eth1 eth0 eth1.5");
  assert.equal(renameWords("nothing", new Map()), "nothing");
  assert.equal(renameWords("eth0", new Map([["eth0", "eth0"]])), "eth0");
});

test("renameInLabel: names inside labels", () => {
  const m = new Map([["ens3", "eth0"]]);
  assert.equal(renameInLabel("System ens3", m), "System eth0");
  assert.equal(renameInLabel("bond-slave-ens3", m), "bond-slave-eth0");
  assert.equal(renameInLabel("Wired connection 1", m), "Wired connection 1");
  assert.equal(renameInLabel("ens33", m), "ens33");
});

test("renameOne: direct, VLAN and alias", () => {
  const m = new Map([["ens3", "eth0"]]);
  assert.equal(renameOne("ens3", m), "eth0");
  assert.equal(renameOne("ens3.20", m), "eth0.20");
  assert.equal(renameOne("ens3:0", m), "eth0:0");
  assert.equal(renameOne("ens4", m), "ens4");
  assert.equal(renameOne("bond0.20", m), "bond0.20");
});

test("MACs: normalised, replaced keeping the file's case, never partial", () => {
  assert.equal(normMac('"52:54:00:AB:CD:EF"'), "52:54:00:ab:cd:ef");
  assert.equal(normMac("52-54-00-ab-cd-ef"), "52:54:00:ab:cd:ef");
  assert.equal(normMac("52:54:00:ab:cd"), undefined);
  assert.equal(normMac(undefined), undefined);
  const m = new Map([["52:54:00:ab:cd:ef", "00:50:56:8a:00:01"]]);
  assert.equal(replaceMacs("HWADDR=52:54:00:AB:CD:EF", m), "HWADDR=00:50:56:8A:00:01");
  assert.equal(replaceMacs("hwaddress ether 52:54:00:ab:cd:ef", m), "hwaddress ether 00:50:56:8a:00:01");
  assert.equal(replaceMacs("52:54:00:ab:cd:ef:00", m), "52:54:00:ab:cd:ef:00");
  assert.equal(macLike("00:50:56:8a:00:01", "52:54:00:AB:CD:EF"), "00:50:56:8A:00:01");
  assert.equal(macLike("00:50:56:8A:00:01", "52:54:00:ab:cd:ef"), "00:50:56:8a:00:01");
});

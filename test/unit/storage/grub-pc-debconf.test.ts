// grub-pc's install devices in debconf: found in its own record only (the _disks_changed
// record names the same devices and is no answer), replaced in place with every other byte
// kept (records that are not UTF-8 included).
import { test } from "node:test";
import assert from "node:assert/strict";
import { findDebconfValue } from "../../../src/bootloader/grub-pc-debconf.ts";

const DB = [
  "Name: grub-pc/install_devices_disks_changed\nTemplate: grub-pc/install_devices_disks_changed\nValue: /dev/vdc\nOwners: grub-pc\n",
  "Name: grub-pc/install_devices\nTemplate: grub-pc/install_devices\nValue: /dev/vda, /dev/vdb\nOwners: grub-pc\nFlags: seen\nVariables:\n CHOICES = /dev/vda (10737 MB)\n",
  "Name: tzdata/Zones/Europe\nValue: Z\u00fcrich\n",
].join("\n");

test("the question's own Value is found, not a neighbour's", () => {
  const f = findDebconfValue(DB, "grub-pc/install_devices");
  assert.ok(f);
  assert.equal(f.value, "/dev/vda, /dev/vdb");
  assert.equal(DB.slice(f.start, f.end), "/dev/vda, /dev/vdb");
  assert.equal(findDebconfValue(DB, "grub-pc/install_devices_disks_changed")?.value, "/dev/vdc");
});

test("a record at the end without a newline, a question without Value, and an absent question", () => {
  const last = "Name: a/b\nValue: x\n\nName: grub-pc/install_devices\nValue: /dev/sda";
  const f = findDebconfValue(last, "grub-pc/install_devices");
  assert.equal(f?.value, "/dev/sda");
  assert.equal(last.slice(f.start, f.end), "/dev/sda");
  assert.equal(findDebconfValue("Name: grub-pc/install_devices\nOwners: grub-pc\n", "grub-pc/install_devices"), undefined);
  assert.equal(findDebconfValue(DB, "grub-pc/other"), undefined);
});

test("blank-line runs between records do not shift the offsets", () => {
  const db = "Name: x/y\nValue: 1\n\n\n\nName: grub-pc/install_devices\nValue: /dev/vda\n";
  const f = findDebconfValue(db, "grub-pc/install_devices");
  assert.equal(db.slice(f!.start, f!.end), "/dev/vda");
});

import { GuestRoot } from "../../guest/guest-root.ts";
import { Journal } from "../../engine/journal.ts";
import { GUEST_JOURNAL } from "../../protocol/files.ts";
import { Logger } from "../../util/log.ts";
import { type Command, need, noPositionals, parse } from "../args.ts";
import { checkRoot } from "./common.ts";

const usage = `Usage: osam-fixup rollback --root DIR

Restores every file stage 1 changed in a mounted guest from the backups its journal
(${GUEST_JOURNAL}) lists, removes the files and directories it created, and finally the
journal and the backups themselves. The guest is then as it was before stage 1.
Commands that stage 1 ran are not undone, but the files they rewrote (initramfs images,
grub.cfg) are restored from their backups, and so is the boot code grub-install wrote to the
boot disk (the MBR and GRUB's embedding area), if that disk is attached here and is the one
the guest is mounted from. Otherwise that backup is kept under the data directory and the
exit status is 1.

  --root DIR   the guest's root filesystem, mounted
  -q, --quiet  do not list each restored file

Exit status: 0 restored (or nothing to restore), 1 failed or not all restored, 2 bad usage.`;

export const rollbackCommand: Command = {
  name: "rollback",
  summary: "restore every original stage 1 changed, from the guest's journal",
  usage,
  async run(argv) {
    const { values, positionals, help } = parse(argv, { root: { type: "string" }, quiet: { type: "boolean", short: "q" } }, usage);
    if (help) {
      console.log(usage);
      return 0;
    }
    noPositionals(positionals, usage);
    const guest = new GuestRoot(checkRoot(need(values.root, "--root", usage)));
    const journal = await Journal.read(guest);
    if (journal.isEmpty) {
      process.stderr.write(`rollback: no journal at ${GUEST_JOURNAL}; nothing to restore\n`);
      return 0;
    }
    const log = new Logger({ echo: values.quiet ? undefined : (l) => process.stderr.write(l + "\n") });
    const n = await journal.rollback(log);
    process.stderr.write(`rollback: restored ${n} original(s); the journal and backups were removed\n`);
    // said even with --quiet: the guest is not entirely as it was
    for (const m of journal.unrestored) process.stderr.write(`rollback: ${m}\n`);
    return journal.unrestored.length ? 1 : 0;
  },
};

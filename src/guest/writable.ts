// Whether stage 1 can write to the guest root at all (a replica mounted read-only, or a
// filesystem the kernel turned read-only after an error): asked before the first change.
import { constants as C } from "node:fs";
import { access } from "node:fs/promises";

/** Undefined when the root is writable, else why not (EROFS on a read-only mount). */
export async function notWritable(root: string): Promise<string | undefined> {
  try {
    await access(root, C.W_OK);
    return undefined;
  } catch (e) {
    return `the guest root ${root} is not writable (${(e as NodeJS.ErrnoException).code ?? String(e)}): mount it read-write`;
  }
}

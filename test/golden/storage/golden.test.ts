// Golden fixtures for the storage steps: each case is a guest tree as a person finds it on
// that distribution (root/), the input maps plus what blkid would report on the fixup VM
// (inputs/devices.json), and the tree after the steps, the plan, the commands they run and
// the per-step summary (expected/, in the format of test/helpers/golden.ts).
import { goldenSuite } from "../../helpers/golden.ts";

const STEPS = ["preflight", "stale-caches", "device-refs", "initrd", "bootloader"];

await goldenSuite(new URL(".", import.meta.url).pathname, { only: STEPS, minCases: 8 });

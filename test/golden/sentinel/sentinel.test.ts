// Golden cases for the stage-2 steps: a RHEL 8-style systemd guest, a RHEL 6-style SysV guest
// (upstart inittab, /etc/rc.d layout, SINGLE=/sbin/sulogin) and the systemd guest with the
// sentinel and foreign-tools options turned off. expected/plan.txt shows the state files,
// the unit and the script that stage 1 installs.
import { goldenSuite } from "../../helpers/golden.ts";

const STEPS = ["stage2-state", "single-user", "selinux", "foreign-tools", "sentinel", "verify"];

await goldenSuite(new URL(".", import.meta.url).pathname, { only: STEPS });

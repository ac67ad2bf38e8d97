// Every sub-command of the binary, in the order --help lists them.
import type { Command } from "../args.ts";
import { agentCommand } from "./agent.ts";
import { applyCommand } from "./apply.ts";
import { collectCommand } from "./collect.ts";
import { inspectCommand } from "./inspect.ts";
import { managerCommand } from "./manager.ts";
import { migrateCommand } from "./migrate.ts";
import { planCommand } from "./plan.ts";
import { reportCommand } from "./report.ts";
import { preflightCommand } from "./preflight.ts";
import { rollbackCommand } from "./rollback.ts";
import { statusCommand } from "./status.ts";

export const COMMANDS: Command[] = [agentCommand, inspectCommand, planCommand, applyCommand, rollbackCommand, collectCommand, preflightCommand, migrateCommand, reportCommand, managerCommand, statusCommand];

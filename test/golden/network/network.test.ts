// Golden fixtures for the network step: each case directory holds a guest tree written from
// the real formats, the input maps, and the expected tree, plan and warnings.
import { goldenSuite } from "../../helpers/golden.ts";

await goldenSuite(new URL(".", import.meta.url).pathname, { only: ["network"] });

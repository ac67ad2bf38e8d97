// Each kernel's initramfs image is read once per run. The keep verdict and the append both
// need its contents, and in the fixup VM one read of a 36 MB zstd image took 7.5 s. The agent
// starts the reads as soon as it knows the kernels, so the decompression (zlib's threads, on
// the fixup VM's second CPU) goes on while the steps before the initramfs step plan and
// write; none of them writes an image. A read is used only for the bytes it was started on.
import { MDADM_CONFS } from "../fixups/mdadm.ts";
import { isItoolsCopy } from "./itools-copies.ts";
import { isCopiedConfig, isReferenceFile, modulesDirOf, readInitramfs, type ImageContents } from "./image.ts";

/** The image's own modules are read whole to give depmod the union; a generic image's are a few hundred MB at most. */
export const MAX_MODULE = 64 << 20;

/**
 * What a read of a kernel's image keeps: what the keep verdict judges (module indexes,
 * device references, configuration copies), and with `modules` every file under the
 * kernel's module directory, which an append needs.
 */
export function imageKeep(version: string, modules: boolean): (name: string) => boolean {
  const dirs = modulesDirOf(version);
  const inModules = modules ? (n: string) => dirs.some((d) => n.startsWith(`${d}/`)) : (n: string) => dirs.some((d) => n === `${d}/modules.dep` || n === `${d}/modules.builtin`);
  return (n) => inModules(n) || isReferenceFile(n) || isCopiedConfig(n) || isItoolsCopy(n) || MDADM_CONFS.includes(`/${n}`) || n === "conf/modules";
}

/** The reads of one run, by image path, kernel and whether modules are kept. */
export class ImageReads {
  private readonly reads = new Map<string, { bytes: Buffer; contents: Promise<ImageContents> }>();
  /** The images read, in order, once per read started. */
  readonly started: string[] = [];

  /**
   * The contents of `bytes` (the image at `path`, of kernel `version`): a read started
   * earlier for the same bytes, or a new one. Rejects with UnreadableImage as readInitramfs.
   */
  read(path: string, bytes: Buffer, version: string, modules: boolean): Promise<ImageContents> {
    const key = `${path}\0${version}\0${modules}`;
    const r = this.reads.get(key);
    if (r && (r.bytes === bytes || r.bytes.equals(bytes))) return r.contents;
    const contents = readInitramfs(bytes, imageKeep(version, modules), modules ? { maxFile: MAX_MODULE } : {});
    // a read started ahead that nobody asks for again must not be an unhandled rejection
    contents.catch(() => undefined);
    this.reads.set(key, { bytes, contents });
    this.started.push(path);
    return contents;
  }
}

/** One read, for a caller without the run's reads (tests, tools). */
export function readImage(path: string, bytes: Buffer, version: string, modules: boolean, reads?: ImageReads): Promise<ImageContents> {
  return (reads ?? new ImageReads()).read(path, bytes, version, modules);
}

/* fuzz-reader-elf.c — libFuzzer target: the dump reader (hv-dumpfile.h) on
 * ELF64 vmcores (ours, QEMU's, /proc/vmcore- and
 * makedumpfile -E-style); the input is the whole file. Seeds:
 * tests/fuzz/seeds/reader-elf/ (tests/fuzz/mkseeds_dump.py); what is done
 * with an input: fuzz-reader.h. */
#include "fuzz-reader.h"

int LLVMFuzzerTestOneInput(const guint8 *data, size_t size);
int LLVMFuzzerTestOneInput(const guint8 *data, size_t size)
{
	fuzz_reader_input(data, size);
	return 0;
}

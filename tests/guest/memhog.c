/* memhog.c — a guest process holding anonymous memory, for the memory mix
 * of the test initramfs (hvdump.mix): MIB MiB of heap, half incompressible
 * (xorshift) and half text-like lines, touched page by page, then it sleeps
 * until killed. Static, so it runs in the busybox initramfs of any kernel.
 *
 *   memhog MIB [READY-FILE]   (READY-FILE is created once the memory is filled)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	long mib = argc > 1 ? atol(argv[1]) : 0;
	size_t len, i, half;
	unsigned long long x = 0x9e3779b97f4a7c15ULL;
	char *p;

	if (mib <= 0 || mib > 65536) {
		fprintf(stderr, "usage: memhog MIB (1..65536)\n");
		return 2;
	}
	len = (size_t)mib << 20;
	p = malloc(len);
	if (p == NULL) {
		perror("memhog: malloc");
		return 1;
	}
	half = len / 2;
	for (i = 0; i + 8 <= half; i += 8) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		memcpy(p + i, &x, 8);
	}
	for (i = half; i < len;) {
		char line[96];
		int n = snprintf(line, sizeof(line), "pid %d record %zu: value=%llu state=ok\n",
				 (int)getpid(), i, x % 100000);

		x = x * 6364136223846793005ULL + 1;
		if (n <= 0)
			break;
		if ((size_t)n > len - i)
			n = (int)(len - i);
		memcpy(p + i, line, (size_t)n);
		i += (size_t)n;
	}
	printf("HVDUMP-MEMHOG %ld MiB\n", mib);
	fflush(stdout);
	if (argc > 2) {
		FILE *f = fopen(argv[2], "w");

		if (f != NULL)
			fclose(f);
	}
	for (;;)
		pause();
}

/* replay.c — replays a fuzz harness's corpus without libFuzzer.
 *
 * Linked with one tests/fuzz/fuzz_<name>.c in the host ASan/UBSan build;
 * `make test` runs it over tests/fuzz/corpus/<name>/. Every file is fed to
 * LLVMFuzzerTestOneInput from a heap copy of exactly its size, so a read
 * past the end is an ASan report. Prints one "ok -" line per corpus.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int replay_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return -1;
	static uint8_t tmp[1 << 20];
	size_t n = fread(tmp, 1, sizeof tmp, f);
	fclose(f);
	uint8_t *copy = malloc(n ? n : 1);
	if (!copy)
		return -1;
	memcpy(copy, tmp, n);
	LLVMFuzzerTestOneInput(copy, n);
	free(copy);
	return 0;
}

int main(int argc, char **argv)
{
	int bad = 0;
	for (int i = 1; i < argc; i++) {
		DIR *d = opendir(argv[i]);
		if (!d) {
			printf("not ok - replay %s: cannot open corpus\n", argv[i]);
			bad++;
			continue;
		}
		unsigned count = 0;
		struct dirent *e;
		while ((e = readdir(d))) {
			if (e->d_name[0] == '.')
				continue;
			char path[4096];
			snprintf(path, sizeof path, "%s/%s", argv[i], e->d_name);
			if (replay_file(path) != 0) {
				printf("not ok - replay %s: cannot read\n", path);
				bad++;
				continue;
			}
			count++;
		}
		closedir(d);
		if (count == 0) {
			printf("not ok - replay %s: empty corpus\n", argv[i]);
			bad++;
		} else {
			printf("ok - replay %s (%u inputs)\n", argv[i], count);
		}
	}
	return bad ? 1 : 0;
}

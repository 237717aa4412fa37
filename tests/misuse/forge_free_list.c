/* SPDX-License-Identifier: MIT */
/* tests/misuse/forge_free_list.c — one read of freed memory must not let an
 * attacker make malloc return an address of their choosing (issue 7 §4).
 *
 * Usage: forge_free_list keyed|raw|raw-unmapped|neighbour [SIZE]   (SIZE: 96)
 *
 * A fresh thread allocates x, y, z (neighbours), frees x then y, and reads
 * the first two words of both freed blocks, as a use-after-free read would.
 * It then plays an attacker who knows how today's free blocks look and
 * wants malloc to return `target` (a global buffer), and writes into the
 * freed y:
 *   keyed      word 0 = target encoded, word 1 left as read; the target gets
 *              a forged word 0 (NULL encoded) and word 1 (its canary).  The
 *              encoding is inferred from what was read, assuming that a
 *              free block's word 0 is its next link XOR a key (the key is 0
 *              for a raw link; y's next is x, which the attacker knows) and
 *              word 1 is its address XOR a secret (one freed block gives
 *              the secret; the second, x, confirms it).  If the two reads
 *              contradict that model there is no key to forge: the attacker
 *              still tries, with the model's best guess.
 *   raw        word 0 = target as a raw pointer, nothing else forged: a
 *              use-after-free write of a plain pointer.
 *   raw-unmapped  the same with a pointer to an inaccessible page: an
 *              allocator that follows the link before checking it crashes.
 *   neighbour  like keyed, but the target is z, a live block: malloc must
 *              not hand out a block someone owns.
 * Then it allocates 2000 blocks of SIZE.
 *
 * Passes (tests/misuse/reuse.sh) if the process dies of SIGABRT with exactly
 * one "poolmalloc: " line, or ends with "target never returned" (exit 0).
 * Fails if malloc returns the target ("malloc returned the forged target",
 * exit 4) or the process dies any other way (a SIGSEGV means the allocator
 * followed the forged link instead of rejecting it).  On c6a47e2 `keyed`
 * and `neighbour` get the target back; `raw` is caught at the second pop,
 * with a message that names the target as a double free, after reading
 * the target: `raw-unmapped` dies of SIGSEGV there.
 */
#include "misuse.h"

#include <pthread.h>
#include <string.h>
#include <sys/mman.h>

static const char *mode;
static size_t size = 96;
static uintptr_t target_buf[64] __attribute__((aligned(64)));

static void *run(void *arg) {
  (void)arg;
  uintptr_t *x = malloc(size), *y = malloc(size), *z = malloc(size);
  if (!x || !y || !z) exit(2);
  memset(z, 0x5a, size);
  free(x);
  free(y);
  /* The use-after-free read. */
  volatile uintptr_t *vx = x, *vy = y;
  uintptr_t x0 = vx[0], x1 = vx[1], y0 = vy[0], y1 = vy[1];
  (void)x0;
  uintptr_t next_key = y0 ^ (uintptr_t)x;            /* word 0 = next ^ next_key  */
  uintptr_t secret = y1 ^ (uintptr_t)y;              /* word 1 = address ^ secret */
  int consistent = (x1 ^ (uintptr_t)x) == secret;    /* x says the same           */
  printf("# read: y = {%#lx, %#lx}, x = {%#lx, %#lx}: next key %#lx, secret %#lx (%s)\n", (unsigned long)y0,
         (unsigned long)y1, (unsigned long)x0, (unsigned long)x1, (unsigned long)next_key, (unsigned long)secret,
         consistent ? "consistent" : "contradicted by x");

  uintptr_t *target = strcmp(mode, "neighbour") == 0 ? z : target_buf;
  if (strcmp(mode, "raw-unmapped") == 0) {
    target = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (target == MAP_FAILED) exit(2);
  }
  volatile uintptr_t *vt = target;
  if (strncmp(mode, "raw", 3) == 0) {
    vy[0] = (uintptr_t)target;
  } else {
    vy[0] = (uintptr_t)target ^ next_key;
    vt[0] = (uintptr_t)NULL ^ next_key;
    vt[1] = (uintptr_t)target ^ secret;
  }
  for (int i = 0; i < 2000; i++) {
    unsigned char *p = malloc(size);
    if (p != NULL && p < (unsigned char *)target + size && p + size > (unsigned char *)target) {
      fprintf(stderr, "malloc returned the forged target %p (call %d)\n", (void *)p, i);
      exit(4);
    }
  }
  return NULL;
}

int main(int argc, char **argv) {
  mode = argc > 1 ? argv[1] : "keyed";
  if (argc > 2) size = strtoul(argv[2], NULL, 0);
  if (strcmp(mode, "keyed") != 0 && strcmp(mode, "raw") != 0 && strcmp(mode, "raw-unmapped") != 0 &&
      strcmp(mode, "neighbour") != 0)
    return 2;
  pthread_t t;   /* a fresh heap: x, y, z are the first blocks of a new pool */
  if (pthread_create(&t, NULL, run, NULL) != 0) return 2;
  pthread_join(t, NULL);
  puts("target never returned");
  return 0;
}

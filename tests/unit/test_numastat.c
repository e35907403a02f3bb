// SPDX-License-Identifier: MIT
/*
 * NUMA verification (mgmt/numastat.c): the verdicts, the host topology
 * and the page walk, against this process's own memory: pages it has
 * touched are present on some host node, the others are absent.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "mgmt/numastat.h"

#define PAGE 4096ull

static struct numastat_usage usage_on(unsigned int a, uint64_t na, unsigned int b, uint64_t nb)
{
	struct numastat_usage u = { 0 };

	u.on_node[a] += na;
	u.on_node[b] += nb;
	return u;
}

static void test_verdicts(void **state)
{
	struct numastat_usage none = { .absent = 1 << 20 };
	struct numastat_usage n0 = usage_on(0, 1 << 20, 0, 0);
	struct numastat_usage n1 = usage_on(1, 1 << 20, 1, 0);
	struct numastat_usage both = usage_on(0, 1 << 20, 1, PAGE);

	(void)state;
	assert_int_equal(numastat_judge(&none, 1), NUMASTAT_EMPTY);
	/* All on node 0, vCPUs only on node 0's CPUs. */
	assert_int_equal(numastat_judge(&n0, 1), NUMASTAT_ALIGNED);
	/* A node without vCPUs is judged by its memory alone. */
	assert_int_equal(numastat_judge(&n1, 0), NUMASTAT_ALIGNED);
	/* One page elsewhere is a split: strict binding allows none. */
	assert_int_equal(numastat_judge(&both, 1), NUMASTAT_SPLIT);
	assert_int_equal(numastat_judge(&both, 3), NUMASTAT_SPLIT);
	/* Memory on node 1, vCPUs on node 0; or free to run on both. */
	assert_int_equal(numastat_judge(&n1, 1), NUMASTAT_REMOTE);
	assert_int_equal(numastat_judge(&n0, 3), NUMASTAT_REMOTE);
	assert_true(numastat_misaligned(NUMASTAT_SPLIT));
	assert_true(numastat_misaligned(NUMASTAT_REMOTE));
	assert_false(numastat_misaligned(NUMASTAT_ALIGNED));
	assert_false(numastat_misaligned(NUMASTAT_EMPTY));
	assert_string_equal(numastat_verdict_name(NUMASTAT_REMOTE), "remote");
	assert_string_equal(numastat_verdict_name((enum numastat_verdict)99), "unknown");
}

static void test_host_topology(void **state)
{
	struct numastat_host *h = malloc(sizeof(*h));
	cpu_set_t set;

	(void)state;
	assert_non_null(h);
	assert_int_equal(numastat_host_read(h), 0);
	assert_true(h->nr_nodes >= 1);
	assert_true(h->online & 1);
	/* The CPU this runs on belongs to an online node. */
	assert_true(h->cpu_node[sched_getcpu()] >= 0);
	assert_true(h->online >> h->cpu_node[sched_getcpu()] & 1);
	CPU_ZERO(&set);
	CPU_SET(sched_getcpu(), &set);
	assert_int_equal(numastat_cpu_nodes(h, &set), 1ull << h->cpu_node[sched_getcpu()]);
	/* CPUs that do not exist add no node. */
	CPU_ZERO(&set);
	CPU_SET(CPU_SETSIZE - 1, &set);
	assert_int_equal(numastat_cpu_nodes(h, &set), 0);
	free(h);
}

static uint64_t present(const struct numastat_usage *u)
{
	uint64_t sum = 0;

	for (unsigned int n = 0; n < NUMASTAT_MAX_NODES; n++)
		sum += u->on_node[n];
	return sum;
}

static void test_walk_own_memory(void **state)
{
	/* More pages than one move_pages batch, so batches are crossed. */
	const uint64_t pages = 3000;
	struct numastat_usage u = { 0 };
	uint8_t *p = mmap(NULL, pages * PAGE, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	(void)state;
	assert_true(p != MAP_FAILED);
	/* No THP: each 4 KiB page must answer for itself. */
	madvise(p, pages * PAGE, MADV_NOHUGEPAGE);
	for (uint64_t i = 0; i < pages; i += 3)
		p[i * PAGE] = 1;
	/*
	 * Pages never read nor written are absent.  (One only read maps the
	 * shared zero page, which Linux 6.1 reports as absent and 6.18
	 * on the zero page's node: not tested.)
	 */
	assert_int_equal(numastat_walk(getpid(), (uint64_t)(uintptr_t)p, pages * PAGE, PAGE, &u),
			 0);
	assert_int_equal(present(&u), 1000 * PAGE);
	assert_int_equal(u.absent, 2000 * PAGE);
	/* Given back (what the balloon does): absent again. */
	madvise(p, pages * PAGE, MADV_DONTNEED);
	memset(&u, 0, sizeof(u));
	assert_int_equal(numastat_walk(0, (uint64_t)(uintptr_t)p, pages * PAGE, PAGE, &u), 0);
	assert_int_equal(present(&u), 0);
	munmap(p, pages * PAGE);
}

static void test_walk_errors(void **state)
{
	struct numastat_usage u = { 0 };

	(void)state;
	assert_int_equal(numastat_walk(getpid(), 4096, 4096, 0, &u), -EINVAL);
	assert_int_equal(numastat_walk(getpid(), 4096, 4096, 3000, &u), -EINVAL);
	assert_int_equal(numastat_walk(getpid(), 4097, 4096, 4096, &u), -EINVAL);
	assert_int_equal(numastat_walk(getpid(), 4096, 100, 4096, &u), -EINVAL);
	/* pid_max is at most 2^22: this process does not exist. */
	assert_int_equal(numastat_walk(1 << 23, 4096, 4096, 4096, &u), -ESRCH);
	/* Nothing mapped there: absent, not an error. */
	assert_int_equal(numastat_walk(getpid(), 4096, 4096, 4096, &u), 0);
	assert_int_equal(u.absent, 4096);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_verdicts),
		cmocka_unit_test(test_host_topology),
		cmocka_unit_test(test_walk_own_memory),
		cmocka_unit_test(test_walk_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

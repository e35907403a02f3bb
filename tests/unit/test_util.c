// SPDX-License-Identifier: MIT
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>

#include "util/util.h"

static void test_parse_size(void **state)
{
	uint64_t v;

	assert_int_equal(parse_size("512M", &v), 0);
	assert_int_equal(v, 512 * MiB);
	assert_int_equal(parse_size("2G", &v), 0);
	assert_int_equal(v, 2 * GiB);
	assert_int_equal(parse_size("4096", &v), 0);
	assert_int_equal(v, 4096);
	assert_int_equal(parse_size("1GiB", &v), 0);
	assert_int_equal(v, GiB);
	assert_int_equal(parse_size("", &v), -EINVAL);
	assert_int_equal(parse_size("-1M", &v), -EINVAL);
	assert_int_equal(parse_size("12X", &v), -EINVAL);
	assert_int_equal(parse_size("99999999999T", &v), -ERANGE);
}

static void test_parse_cpulist(void **state)
{
	uint64_t bm[2];

	assert_int_equal(parse_cpulist("0-3,8,10-11", bm, 128), 0);
	assert_int_equal(bm[0], 0xd0full);
	assert_int_equal(parse_cpulist("64", bm, 128), 0);
	assert_int_equal(bm[1], 1);
	assert_int_equal(parse_cpulist("3-1", bm, 128), -ERANGE);
	assert_int_equal(parse_cpulist("200", bm, 128), -ERANGE);
	assert_int_equal(parse_cpulist("1,,2", bm, 128), -EINVAL);
	assert_int_equal(parse_cpulist("a", bm, 128), -EINVAL);
}

static void test_format_size(void **state)
{
	char buf[32];

	format_size(512 * MiB, buf, sizeof(buf));
	assert_string_equal(buf, "512M");
	format_size(3 * GiB / 2, buf, sizeof(buf));
	assert_string_equal(buf, "1.5G");
	format_size(100, buf, sizeof(buf));
	assert_string_equal(buf, "100");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_size),
		cmocka_unit_test(test_parse_cpulist),
		cmocka_unit_test(test_format_size),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

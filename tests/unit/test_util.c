// SPDX-License-Identifier: MIT
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdlib.h>

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

/* Names from images reach terminals only escaped (issue 9, item 10). */
static void test_str_escape(void **state)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
		{ "plain name-1.qcow2", "plain name-1.qcow2" },
		{ "\x1b]0;title\x07\x1b[2J", "\\x1b]0;title\\x07\\x1b[2J" },
		{ "tab\there\nDEL\x7f", "tab\\x09here\\x0aDEL\\x7f" },
		{ "back\\slash", "back\\\\slash" },
		/* printable UTF-8 stays */
		{ "caf\xc3\xa9 \xf0\x9f\x98\x80", "caf\xc3\xa9 \xf0\x9f\x98\x80" },
		/* the C1 control U+009B (CSI) */
		{ "csi\xc2\x9b[31m", "csi\\xc2\\x9b[31m" },
		/* not UTF-8: a stray continuation byte, 0xff, a truncated sequence */
		{ "bad\x80\xff\xc3", "bad\\x80\\xff\\xc3" },
		/* an overlong '/', a UTF-16 surrogate (U+D800) */
		{ "over\xc0\xaf", "over\\xc0\\xaf" },
		{ "surr\xed\xa0\x80", "surr\\xed\\xa0\\x80" },
	};
	uint32_t cp;

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		char *e = str_escape(cases[i].in);

		assert_non_null(e);
		assert_string_equal(e, cases[i].out);
		free(e);
	}
	assert_int_equal(utf8_char((const unsigned char *)"\xf4\x8f\xbf\xbf", &cp), 4);
	assert_int_equal(cp, 0x10ffff);
	assert_int_equal(utf8_char((const unsigned char *)"\xf4\x90\x80\x80", &cp), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_size),
		cmocka_unit_test(test_parse_cpulist),
		cmocka_unit_test(test_format_size),
		cmocka_unit_test(test_str_escape),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

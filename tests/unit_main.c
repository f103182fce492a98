/*  unit_main.c — the one cmocka runner for every unit-test group.
 *
 *  Groups are the files named *_test.c beside the modules they pin; each
 *  defines `int <file>_test (void)` returning cmocka_run_group_tests ().
 *  The Makefile lists them in unit_groups.inc.
 *
 *      zhook-unit                 run every group
 *      zhook-unit GROUP           run one group (e.g. proto_test)
 *      zhook-unit GROUP TEST      run tests of GROUP matching TEST (glob) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#define ZH_TEST_GROUP(name) int name (void);
#include "unit_groups.inc"
#undef ZH_TEST_GROUP

typedef struct {
    const char *name;
    int (*run) (void);
} group_t;

static const group_t s_groups[] = {
#define ZH_TEST_GROUP(name) {#name, name},
#include "unit_groups.inc"
#undef ZH_TEST_GROUP
    {NULL, NULL}};

int
main (int argc, char **argv)
{
    const char *only = argc > 1 ? argv[1] : NULL;
    if (argc > 2)
        cmocka_set_test_filter (argv[2]);
    int failed = 0, ran = 0;
    for (const group_t *g = s_groups; g->name; g++) {
        if (only && strcmp (only, g->name) != 0)
            continue;
        ran++;
        failed += g->run () != 0;
    }
    if (only && ran == 0) {
        fprintf (stderr, "zhook-unit: no group named %s\n", only);
        return 2;
    }
    printf ("zhook-unit: %d group(s), %d failed\n", ran, failed);
    return failed ? 1 : 0;
}

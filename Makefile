# zhook — top-level build.
#
#   make            bin/zhook-ingress bin/zhook-scheduler bin/zhook-deliverer,
#                   and bin/zhook-verify (signature checker for receivers)
#   make run        build and start the local pipeline (scripts/run-local.sh)
#   make test       unit tests (cmocka) + end-to-end tests (tests/e2e/*.sh)
#   make fuzz       bounded libFuzzer run over every proto decoder (clang)
#   make lint       clang-format check, cppcheck, banned-function grep
#   make SANITIZE=1 ...   ASan+UBSan build (no recovery) into bin/san/
#
# Layout: common/ and proto/ build static libraries; each process folder builds
# a library of its modules plus main.c into one binary. Files named *_test.c
# are cmocka groups linked into one runner (bin/zhook-unit); *_fuzz.c are
# libFuzzer targets; tests/*.c are test tools (receiver, free-port picker).

SHELL := /bin/sh
PKGS  := libczmq libzmq msgpack lmdb libcurl jansson openssl
DEB_PKGS := pkg-config make gcc libzmq3-dev libczmq-dev libcivetweb-dev libmsgpack-dev \
            liblmdb-dev lmdb-utils libcurl4-openssl-dev libjansson-dev libssl-dev \
            libcmocka-dev curl procps
DEB_TEST_PKGS := clang libclang-rt-14-dev nginx-light docker-compose clang-format cppcheck

CC      ?= cc
CFLAGS  ?= -O2 -g
WARN    := -std=c11 -Wall -Wextra -Wshadow -Wformat=2 -Wstrict-prototypes \
           -Wmissing-prototypes -Wvla -Werror
CPPFLAGS += -D_GNU_SOURCE -I. -MMD -MP

ifeq ($(SANITIZE),1)
  VARIANT  := san
  BIN      := bin/san
  SANFLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
  HARDEN   :=
  HARDEN_LD :=
else
  VARIANT  := rel
  BIN      := bin
  SANFLAGS :=
  HARDEN   := -D_FORTIFY_SOURCE=2 -fstack-protector-strong -fPIE
  HARDEN_LD := -pie -Wl,-z,relro,-z,now
endif
OBJ := build/$(VARIANT)

PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lcivetweb -lpthread -lm
ALL_CFLAGS := $(WARN) $(CFLAGS) $(HARDEN) $(SANFLAGS) $(PKG_CFLAGS)
ALL_LDFLAGS := $(LDFLAGS) $(HARDEN_LD) $(SANFLAGS)

lib_srcs = $(filter-out $(1)/main.c $(wildcard $(1)/*_test.c) $(wildcard $(1)/*_fuzz.c),$(wildcard $(1)/*.c))
COMMON_SRCS := $(call lib_srcs,common)
PROTO_SRCS  := $(call lib_srcs,proto)
SCH_SRCS    := $(call lib_srcs,scheduler)
DLV_SRCS    := $(call lib_srcs,deliverer)
ING_SRCS    := $(call lib_srcs,ingress)
# generated sources of the ingress library: ingress/openapi.json as a C array
ING_GEN_SRCS := build/gen/ing_openapi_doc.c
TEST_SRCS   := $(wildcard common/*_test.c proto/*_test.c scheduler/*_test.c deliverer/*_test.c ingress/*_test.c)
TOOL_SRCS   := $(filter-out tests/unit_main.c,$(wildcard tests/*.c))

objs = $(patsubst %.c,$(OBJ)/%.o,$(1))
LIBCOMMON := $(OBJ)/libzhcommon.a
LIBPROTO  := $(OBJ)/libzhproto.a
LIBSCH    := $(OBJ)/libzhsch.a
LIBDLV    := $(OBJ)/libzhdlv.a
LIBING    := $(OBJ)/libzhing.a

PROGRAMS := $(BIN)/zhook-ingress $(BIN)/zhook-scheduler $(BIN)/zhook-deliverer $(BIN)/zhook-verify \
            $(BIN)/zhook-keygen
TOOLS    := $(patsubst tests/%.c,$(BIN)/%,$(TOOL_SRCS))
UNIT     := $(BIN)/zhook-unit

.PHONY: all programs run test unit e2e fuzz lint clean deps deps-test check-deps tools keys \
        test-deploy test-compose \
        openapi-validator k8s-validator k8s-validate
# Top-level goals first make sure the Debian packages are there, then build in a
# sub-make, so pkg-config is asked only once the packages exist.
all: check-deps
	@$(MAKE) --no-print-directory programs
programs: $(PROGRAMS)

# --- dependencies ---------------------------------------------------------
# Installs missing Debian packages when root, else prints the apt-get line.
deps check-deps:
	@sh scripts/deps.sh $(DEB_PKGS)

deps-test:
	@sh scripts/deps.sh $(DEB_PKGS) $(DEB_TEST_PKGS)

# --- libraries and programs ----------------------------------------------
# V=1 shows full command lines
Q := $(if $(V),,@)
$(OBJ)/%.o: %.c
	@mkdir -p $(dir $@)
	@$(if $(V),,echo "  CC    $<")
	$(Q)$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -c $< -o $@

$(LIBCOMMON): $(call objs,$(COMMON_SRCS))
$(LIBPROTO):  $(call objs,$(PROTO_SRCS))
$(LIBSCH):    $(call objs,$(SCH_SRCS))
$(LIBDLV):    $(call objs,$(DLV_SRCS))
$(LIBING):    $(call objs,$(ING_SRCS) $(ING_GEN_SRCS))
$(OBJ)/%.a:
	@mkdir -p $(dir $@)
	$(Q)rm -f $@ && ar rcs $@ $^

$(BIN)/zhook-scheduler: $(OBJ)/scheduler/main.o $(LIBSCH) $(LIBPROTO) $(LIBCOMMON)
$(BIN)/zhook-deliverer: $(OBJ)/deliverer/main.o $(LIBDLV) $(LIBPROTO) $(LIBCOMMON)
$(BIN)/zhook-ingress:   $(OBJ)/ingress/main.o $(LIBING) $(LIBPROTO) $(LIBCOMMON)
$(BIN)/zhook-verify:    $(OBJ)/verify/main.o $(LIBCOMMON)
$(BIN)/zhook-keygen:    $(OBJ)/keygen/main.o $(LIBCOMMON)
$(PROGRAMS):
	@mkdir -p $(dir $@)
	@$(if $(V),,echo "  LD    $@")
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(PKG_LIBS)

# GET /openapi.json: ingress/openapi.json embedded at build time as a
# NUL-terminated array behind ing_openapi_doc () (ingress/ing_openapi.h).
build/gen/ing_openapi_doc.c: ingress/openapi.json
	@mkdir -p $(dir $@)
	@$(if $(V),,echo "  GEN   $@")
	$(Q){ printf '/* Generated from ingress/openapi.json by the Makefile: do not edit. */\n'; \
	  printf '#include "ingress/ing_openapi.h"\n\nstatic const unsigned char s_doc[] = {\n'; \
	  od -An -v -tx1 $< | sed -e 's/[[:space:]]*\([0-9a-f][0-9a-f]\)/0x\1,/g' -e 's/^/    /'; \
	  printf '    0x00};\n\nconst char *\ning_openapi_doc (size_t *size)\n{\n'; \
	  printf '    *size = sizeof s_doc - 1;\n    return (const char *)s_doc;\n}\n'; \
	} >$@.tmp && mv $@.tmp $@

# Test-only npm package (tests/openapi/): the OpenAPI 3.1 schema validator that
# tests/e2e/t_openapi.sh runs, installed from the lock file under build/npm.
OPENAPI_VALIDATOR := build/npm/node_modules/@seriousme/openapi-schema-validator/package.json
$(OPENAPI_VALIDATOR): tests/openapi/package.json tests/openapi/package-lock.json
	@mkdir -p build/npm
	@command -v npm >/dev/null 2>&1 || sh scripts/deps.sh nodejs npm
	cp tests/openapi/package.json tests/openapi/package-lock.json build/npm/
	cd build/npm && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error
	@touch $@
openapi-validator: $(OPENAPI_VALIDATOR)

# Test-only npm packages (tests/deploy/): kubernetes-models + yaml for
# tests/deploy/k8s_validate.mjs (yaml also for compose_policy.mjs), installed
# from the lock file under build/npm-deploy.
# k8s-validate: every k8s/ object against the Kubernetes schemas with a strict
# unknown-field check, consistency with bin/zhook-* --help, and mutated copies rejected.
K8S_VALIDATOR := build/npm-deploy/node_modules/kubernetes-models/package.json
$(K8S_VALIDATOR): tests/deploy/package.json tests/deploy/package-lock.json
	@mkdir -p build/npm-deploy
	@command -v npm >/dev/null 2>&1 || sh scripts/deps.sh nodejs npm
	cp tests/deploy/package.json tests/deploy/package-lock.json build/npm-deploy/
	cd build/npm-deploy && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error
	@touch $@
k8s-validator: $(K8S_VALIDATOR)
k8s-validate: check-deps
	@$(MAKE) --no-print-directory $(PROGRAMS) k8s-validator
	node tests/deploy/k8s_validate.mjs --modules build/npm-deploy/node_modules --bin $(BIN) --mutate

$(BIN)/%: $(OBJ)/tests/%.o $(LIBPROTO) $(LIBCOMMON)
	@mkdir -p $(dir $@)
	@$(if $(V),,echo "  LD    $@")
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(PKG_LIBS)
tools: $(TOOLS)

# --- unit tests: one cmocka runner, groups found by file name -------------
$(OBJ)/unit_groups.inc: $(TEST_SRCS)
	@mkdir -p $(dir $@)
	@printf '' > $@.tmp
	@for f in $(TEST_SRCS); do b=$$(basename $$f .c); echo "ZH_TEST_GROUP ($$b)" >> $@.tmp; done
	@cmp -s $@.tmp $@ || mv $@.tmp $@; rm -f $@.tmp
$(OBJ)/tests/unit_main.o: tests/unit_main.c $(OBJ)/unit_groups.inc
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(CPPFLAGS) -I$(OBJ) $(ALL_CFLAGS) -c $< -o $@
$(UNIT): $(OBJ)/tests/unit_main.o $(call objs,$(TEST_SRCS)) $(LIBSCH) $(LIBDLV) $(LIBING) $(LIBPROTO) $(LIBCOMMON)
	@mkdir -p $(dir $@)
	@$(if $(V),,echo "  LD    $@")
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(PKG_LIBS) -lcmocka

unit: check-deps
	@$(MAKE) --no-print-directory $(UNIT)
	$(UNIT)

e2e: check-deps
	@$(MAKE) --no-print-directory $(PROGRAMS) $(TOOLS) openapi-validator
	ZH_BIN=$(abspath $(BIN)) ZH_SANITIZE=$(SANITIZE) sh tests/e2e/run.sh

# The sanitizer run skips the fuzzers: they are ASan/UBSan builds already.
test: deps-test
	@$(MAKE) --no-print-directory $(PROGRAMS) $(TOOLS) $(UNIT) openapi-validator
	$(UNIT)
	$(MAKE) --no-print-directory k8s-validate
	ZH_BIN=$(abspath $(BIN)) ZH_SANITIZE=$(SANITIZE) sh tests/e2e/run.sh
ifneq ($(SANITIZE),1)
	$(MAKE) --no-print-directory lint
	$(MAKE) --no-print-directory fuzz
	$(MAKE) --no-print-directory test-deploy
endif

# --- deployment (Dockerfile, compose/; docs/DEPLOY.md) ---------------------
# test-deploy: offline checks run by `make test`: the compose file against the
#   compose schema and policy, with broken copies rejected, and every library
#   the release binaries link coming from the Dockerfile's runtime packages.
# test-compose: the real image and compose stack on a private dockerd
#   (tests/deploy/compose_smoke.sh; root). Exit 77 from the script = SKIPPED
#   (engine cannot start), recorded in build/test-compose.status for .ci/run.
test-deploy: deps-test
	@$(MAKE) --no-print-directory SANITIZE= programs k8s-validator
	ZH_BIN=$(abspath bin) sh tests/deploy/check_compose.sh
	sh tests/deploy/check_ldd.sh Dockerfile bin

test-compose: check-deps
	@sh scripts/deps.sh docker.io docker-compose debootstrap openssl
	@$(MAKE) --no-print-directory SANITIZE= programs bin/zh_freeport bin/zh_json
	@mkdir -p build
	@limit=$${TEST_COMPOSE_TIMEOUT:-900}; rc=0; \
	  ZH_BIN=$(abspath bin) timeout -k 60 $$limit sh tests/deploy/compose_smoke.sh || rc=$$?; \
	  if [ $$rc = 124 ] || [ $$rc = 137 ]; then \
	    echo "test-compose: FAIL: tests/deploy/compose_smoke.sh did not finish within $$limit s and was stopped (TEST_COMPOSE_TIMEOUT=$$limit)" >&2; \
	  fi; \
	  case $$rc in 0) echo passed ;; 77) echo skipped ;; *) echo failed ;; esac >build/test-compose.status; \
	  exit $$rc

# --- fuzzing (clang libFuzzer + ASan/UBSan) ------------------------------
# Every */NAME_fuzz.c is a target bin/fuzz/NAME_fuzz linked with the common,
# proto and ingress libraries' sources; its seed corpus is tests/fuzz/NAME_fuzz/
# (committed), new inputs go to build/fuzz-corpus/. CI runs each target for
# FUZZ_SECONDS and fails on any crash, leak, timeout or over-limit allocation.
FUZZ_SECONDS ?= 60
FUZZ_SRCS := $(wildcard proto/*_fuzz.c ingress/*_fuzz.c scheduler/*_fuzz.c deliverer/*_fuzz.c common/*_fuzz.c)
FUZZ_BINS := $(patsubst %.c,bin/fuzz/%,$(notdir $(FUZZ_SRCS)))
FUZZ_LIB_SRCS := $(PROTO_SRCS) $(COMMON_SRCS) $(ING_SRCS) $(ING_GEN_SRCS)
bin/fuzz/%: $(FUZZ_SRCS) $(FUZZ_LIB_SRCS)
	@mkdir -p bin/fuzz
	clang -std=c11 -D_GNU_SOURCE -I. -g -O1 -fsanitize=fuzzer,address,undefined \
	  -fno-sanitize-recover=all $(PKG_CFLAGS) -o $@ $(filter %/$*.c,$(FUZZ_SRCS)) \
	  $(FUZZ_LIB_SRCS) $(PKG_LIBS)
fuzz: $(FUZZ_BINS)
	@for f in $(FUZZ_BINS); do \
	  t=$$(basename $$f); mkdir -p build/fuzz-corpus/$$t tests/fuzz/$$t; \
	  echo "fuzz: $$f for $(FUZZ_SECONDS)s (rss limit 256 MB, seeds tests/fuzz/$$t)"; \
	  $$f -max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=256 -malloc_limit_mb=64 -timeout=10 \
	    -print_final_stats=1 build/fuzz-corpus/$$t tests/fuzz/$$t >build/fuzz-$$t.log 2>&1 \
	    || { tail -40 build/fuzz-$$t.log; exit 1; }; \
	  grep -E 'stat::(number_of_executed_units|peak_rss_mb)' build/fuzz-$$t.log; \
	done

# --- running locally ------------------------------------------------------
# --- CURVE keys of the internal sockets ----------------------------------
# A development set under KEYS_DIR (scheduler, ingress, deliverer pairs and
# clients/ with the allowlisted public certificates); existing keys are kept.
KEYS_DIR ?= data/keys
keys: check-deps
	@$(MAKE) --no-print-directory $(BIN)/zhook-keygen
	sh scripts/make-keys.sh $(BIN)/zhook-keygen $(KEYS_DIR)

run: check-deps
	@$(MAKE) --no-print-directory $(PROGRAMS)
	ZH_BIN=$(BIN) sh scripts/run-local.sh

# --- lint -----------------------------------------------------------------
LINT_SRCS = $(wildcard common/*.[ch] proto/*.[ch] scheduler/*.[ch] deliverer/*.[ch] ingress/*.[ch] verify/*.[ch] keygen/*.[ch] tests/*.[ch])
lint:
	clang-format --dry-run --Werror $(LINT_SRCS)
	cppcheck --quiet --error-exitcode=1 --enable=warning,portability --inline-suppr \
	  --suppress=missingIncludeSystem --suppress=varFuncNullUB -I. common proto scheduler deliverer ingress verify keygen
	@! grep -nE '\b(sprintf|strcat|strncpy|atoi|atol|gets|strtok)[[:space:]]*\(' $(LINT_SRCS) \
	  || { echo "lint: banned function"; exit 1; }

clean:
	rm -rf build bin

-include $(shell find build -name '*.d' 2>/dev/null)

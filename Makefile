# Makefile - build, test and demo testmesh.
#
#   make            build build/testmesh
#   make deps       install the Debian packages it needs (apt-get; sudo if not root)
#   make test       deps + build + unit and integration tests
#   make demo       deps + build + run the example suites through testmesh
#   make asan       the tests under AddressSanitizer and UBSan, in build-asan/
#   make bench      tools/bench/local_overhead.sh
#
# Output is quiet unless V=1.  Warnings are errors when CI=true (as CI
# sets it) or WERROR=1.

BUILD    ?= build
CC       ?= cc
CXX      ?= c++
PKGS      = libczmq libzmq libsodium rocksdb inih jansson
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)

CFLAGS   ?= -O2 -g
# `override` so that a CFLAGS given on the command line (as `make asan`
# does) adds optimisation and sanitizer flags without losing these.
override CFLAGS += -std=gnu11 -D_GNU_SOURCE -Wall -Wextra -Wshadow -Wno-unused-parameter -MMD -MP \
            -Inode -Igossip -Idht-cache $(PKG_CFLAGS)
ifneq ($(filter 1 true,$(WERROR) $(CI)),)
override CFLAGS += -Werror
endif
override LDLIBS += $(PKG_LIBS) -lpthread -lm

ifeq ($(V),1)
Q =
else
Q = @
endif

# Every module but main.c goes into a static library that the binary,
# the unit tests and the tools all link, so tests exercise shipped code.
LIB_SRCS  := $(filter-out node/main.c,$(wildcard node/*.c)) $(wildcard gossip/*.c) \
             $(wildcard dht-cache/*.c)
LIB_OBJS  := $(LIB_SRCS:%.c=$(BUILD)/obj/%.o) $(BUILD)/obj/dht-cache/tm_trace_blob.o
LIB       := $(BUILD)/libtestmesh.a
BIN       := $(BUILD)/testmesh

TEST_SRCS := $(wildcard tests/test_*.c)
TEST_BINS := $(TEST_SRCS:tests/%.c=$(BUILD)/tests/%)

.PHONY: all deps test unit integration demo asan bench clean fixtures check-deps
all: $(BIN) $(BUILD)/gossip-sim

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(CFLAGS) -c $< -o $@

# The trace shim (dht-cache/shim/, tm_trace.h) is preloaded into test
# programs, so it is built with plain flags of its own: never CFLAGS or
# LDFLAGS, which carry the sanitizers under `make asan`.  It is embedded
# in the library (one binary) by tm_trace_blob.S's .incbin.
SHIM        := $(BUILD)/libtestmesh-trace.so
SHIM_CFLAGS := -std=gnu11 -O2 -fPIC -shared -s -Wall -Wextra -Wno-unused-parameter \
               $(if $(filter 1 true,$(WERROR) $(CI)),-Werror)
$(SHIM): dht-cache/shim/tm_trace_shim.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  SHIM    $@")
	$(Q)$(CC) $(SHIM_CFLAGS) $< -o $@ -ldl

$(BUILD)/obj/dht-cache/tm_trace_blob.o: dht-cache/tm_trace_blob.S $(SHIM)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  AS      $<")
	$(Q)$(CC) -c -DTM_TRACE_SHIM_SO='"$(SHIM)"' $< -o $@

$(LIB): $(LIB_OBJS)
	@$(if $(Q),echo "  AR      $@")
	$(Q)rm -f $@ && ar rcs $@ $^

$(BIN): $(BUILD)/obj/node/main.o $(LIB)
	@$(if $(Q),echo "  LINK    $@")
	$(Q)$(CC) $(CFLAGS) $^ -o $@ $(LDFLAGS) $(LDLIBS)

$(BUILD)/tests/%: tests/%.c $(LIB) tests/tm_testutil.h tests/tm_cluster.h
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  TEST-CC $<")
	$(Q)$(CC) $(CFLAGS) -Itests $< $(LIB) -o $@ $(LDFLAGS) $(LDLIBS) \
	    $(shell pkg-config --libs criterion)

# The SWIM simulator (tools/gossip-sim/): links the library, no Criterion.
$(BUILD)/gossip-sim: tools/gossip-sim/gossip_sim.c $(LIB)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LINK    $@")
	$(Q)$(CC) $(CFLAGS) $< $(LIB) -o $@ $(LDFLAGS) $(LDLIBS)

# The result cache's lookup timer (tools/bench/cache.sh): links the library.
$(BUILD)/cache-lookup: tools/bench/cache_lookup.c $(LIB)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LINK    $@")
	$(Q)$(CC) $(CFLAGS) $< $(LIB) -o $@ $(LDFLAGS) $(LDLIBS)

# The spawn's own cost (tools/bench/spawn_cost.c): links the library.
$(BUILD)/spawn-cost: tools/bench/spawn_cost.c $(LIB)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LINK    $@")
	$(Q)$(CC) $(CFLAGS) $< $(LIB) -o $@ $(LDFLAGS) $(LDLIBS)

# Fixture suites the integration tests and the demo run (tests/fixtures/).
-include tests/fixtures/fixtures.mk

# ---------------------------------------------------------------- deps
# Debian package names; `make deps` installs whatever of them is missing.
DEB_PKGS = build-essential pkg-config libzmq3-dev libczmq-dev libsodium-dev \
           librocksdb-dev libcriterion-dev libinih-dev libjansson-dev \
           libgtest-dev cmake parallel libxml2-utils iproute2
deps:
	@missing=""; for p in $(DEB_PKGS); do \
	    dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' \
	        || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	    echo "deps: installing$$missing"; \
	    SUDO=; [ "$$(id -u)" -eq 0 ] || SUDO=sudo; \
	    $$SUDO apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing; \
	fi

# ---------------------------------------------------------------- test
# Unit tests and integration tests are all Criterion binaries; the
# integration ones drive $(BIN) on the fixture suites.  Then the script
# tests: agents on a LAN of network namespaces (root and `ip netns`; if
# it cannot run it counts as a failure).
SCRIPT_TESTS = tests/netns/lan_test.sh
test: deps
	$(Q)$(MAKE) --no-print-directory $(BIN) $(TEST_BINS) fixtures
	$(Q)tools/run_tests.sh $(BUILD) $(TEST_BINS) $(SCRIPT_TESTS)

demo: deps
	$(Q)$(MAKE) --no-print-directory $(BIN) fixtures
	$(Q)tools/demo.sh $(BUILD)

# exitcode=23: a leak or error inside testmesh turns any expected exit
# status (0, 1 or 2) that an integration test asserts into a failure.
asan: deps
	$(Q)$(MAKE) --no-print-directory BUILD=build-asan \
	    CFLAGS="-O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" \
	    LDFLAGS="-fsanitize=address,undefined" \
	    build-asan/testmesh $(TEST_BINS:$(BUILD)/%=build-asan/%) fixtures
	$(Q)ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:exitcode=23 UBSAN_OPTIONS=print_stacktrace=1 \
	    LSAN_OPTIONS=suppressions=$(CURDIR)/tools/lsan.supp:print_suppressions=0 \
	    tools/run_tests.sh build-asan $(TEST_BINS:$(BUILD)/%=build-asan/%)

bench: $(BIN) fixtures
	tools/bench/local_overhead.sh

clean:
	rm -rf build build-asan

-include $(LIB_OBJS:.o=.d) $(BUILD)/obj/node/main.d

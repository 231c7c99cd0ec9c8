# uco: build, run and test.  See README.md.
#
#   make                the module (build/ngx_http_uco_module.so), the
#                       loader (build/policy-loader) and build/uco-token
#   make run            local demo on 127.0.0.1:8080 (foreground)
#   make test           the whole t/ suite
#   make NGINX_SRC=/path/to/nginx-1.x.y   build against an upstream tree

SHELL     := /bin/bash
CC        ?= cc
# _FORTIFY_SOURCE as Debian's packages build: the same warnings here
CFLAGS    ?= -O2 -g -D_FORTIFY_SOURCE=2
WARN       = -Wall -Wextra -Werror
PG_INC    := $(shell pg_config --includedir 2>/dev/null)
BUILD      = build
NGINX_SRC ?= /usr/share/nginx/src
NGX_BUILD  = $(BUILD)/nginx
# nginx compiles with -W (-Wextra) -Wall -Werror; these are Debian's flags
NGX_CC_OPT ?= -g -O2 -fstack-protector-strong -Wformat \
              -Werror=format-security -fPIC -D_FORTIFY_SOURCE=2
NGX_LD_OPT ?= -Wl,-z,relro -Wl,-z,now -fPIC

SNAP_SRC   = ngx_uco_module/uco_snap.c
SNAP_HDR   = ngx_uco_module/uco_snap.h
JRNL_SRC   = ngx_uco_module/uco_journal.c ngx_uco_module/uco_msgpack.c
JRNL_HDR   = ngx_uco_module/uco_journal.h ngx_uco_module/uco_msgpack.h
# the module's plain-C card and credential parsers, linked by uco-token
# and the fuzzers
CARD_SRC   = ngx_uco_module/uco_query.c ngx_uco_module/uco_pan.c \
             ngx_uco_module/uco_token.c ngx_uco_module/uco_sig.c
CARD_HDR   = $(CARD_SRC:.c=.h)
MOD_SRC    = $(wildcard ngx_uco_module/*.c ngx_uco_module/*.h) config
LOADER_SRC = $(wildcard policy-loader/*.c)
LOADER_HDR = $(wildcard policy-loader/*.h)

DEB_PKGS   = build-essential nginx nginx-dev libssl-dev libpq-dev \
             postgresql postgresql-contrib libtest-base-perl \
             libfaketime faketime curl clang libclang-rt-14-dev \
             valgrind libhiredis-dev libmsgpack-dev libjansson-dev \
             redis-server prometheus wrk python3-msgpack debhelper \
             dpkg-dev fakeroot time linux-perf

FUZZ_TARGETS = snapshot query tz copy body_json body_msgpack pan token \
               journal sig delta
FUZZ_SECONDS ?= 60
FUZZ_CFLAGS  = -g -O1 -fsanitize=fuzzer,address,undefined \
               -fno-sanitize-recover=undefined -Ingx_uco_module \
               -Ipolicy-loader

# make test-asan: module and loader built with AddressSanitizer and
# UndefinedBehaviorSanitizer; the distribution's nginx loads the module
# with the runtime preloaded.  Reports go to files; any file fails.
SAN_FLAGS  = -fsanitize=address,undefined -fno-omit-frame-pointer \
             -fno-sanitize-recover=undefined
ASAN_BUILD = $(BUILD)/asan
# UCO_TEST_TMP: where tests keep their state; runs side by side on one
# machine (several checkouts) each set their own
UCO_TEST_TMP ?= /tmp/uco-test
export UCO_TEST_TMP
SAN_LOGS   = $(UCO_TEST_TMP)-sanitizer-logs
# libfaketime and a preloaded ASan runtime deadlock at start-up, so the
# faketime file runs in the plain suite only (docs/hardening.md)
SAN_TESTS  = $(filter-out t/025-time-window.t,$(wildcard t/*.t))

.PHONY: all module loader token test unit run deps clean style fuzz \
        fuzz-build \
        bench-build test-cost \
        test-asan asan test-valgrind deb test-deb

all: module loader token

deps:
	@missing=""; for p in $(DEB_PKGS); do \
	    dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | \
	        grep -q 'ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	    echo "installing:$$missing"; \
	    if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	    $$SUDO apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq \
	        --no-install-recommends $$missing; \
	fi

module: $(BUILD)/ngx_http_uco_module.so

loader: $(BUILD)/policy-loader

token: $(BUILD)/uco-token

$(BUILD)/uco-token: tools/uco-token.c $(SNAP_SRC) $(SNAP_HDR) $(CARD_SRC) \
                    $(CARD_HDR)
	@mkdir -p $(BUILD)
	$(CC) $(CFLAGS) $(WARN) -std=c99 -D_GNU_SOURCE -Ingx_uco_module \
	    -o $@ tools/uco-token.c $(SNAP_SRC) $(CARD_SRC) -lcrypto

# $(call configure-nginx,DIR,CC_OPT,LD_OPT): a private copy of the nginx
# tree configured with the flags the system binary was built with (its
# conf_flags), so that the module's ABI matches; an upstream tree gets a
# --with-compat configuration.
define configure-nginx
	rm -rf $(1) && mkdir -p $(dir $(1)) && cp -r $(NGINX_SRC) $(1)
	@cd $(1) && if [ -f conf_flags ]; then \
	    . ./conf_flags && ./configure "$${NGX_CONF_FLAGS[@]}" \
	        --with-cc-opt="$(2)" --with-ld-opt="$(3)" \
	        --add-dynamic-module=$(CURDIR) >/dev/null; \
	else \
	    ./configure --with-compat --with-threads \
	        --with-http_ssl_module --with-http_auth_request_module \
	        --with-cc-opt="$(2)" --with-ld-opt="$(3)" \
	        --add-dynamic-module=$(CURDIR) >/dev/null; \
	fi
endef

$(NGX_BUILD)/Makefile: config
	$(call configure-nginx,$(NGX_BUILD),$(NGX_CC_OPT),$(NGX_LD_OPT))

$(BUILD)/ngx_http_uco_module.so: $(NGX_BUILD)/Makefile $(MOD_SRC)
	$(MAKE) -s -C $(NGX_BUILD) -f objs/Makefile modules
	cp $(NGX_BUILD)/objs/ngx_http_uco_module.so $@

# the journal's companion process (pl_journal*.c) adds hiredis, msgpack-c
LOADER_LIBS = -lpq -lcrypto -lhiredis -lmsgpackc

$(BUILD)/policy-loader: $(LOADER_SRC) $(LOADER_HDR) $(SNAP_SRC) $(SNAP_HDR) \
                        $(JRNL_SRC) $(JRNL_HDR)
	@mkdir -p $(BUILD)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(WARN) -std=c99 -D_GNU_SOURCE \
	    -Ingx_uco_module -I$(PG_INC) $(LDFLAGS) -o $@ $(LOADER_SRC) \
	    $(SNAP_SRC) $(JRNL_SRC) $(LOADER_LIBS)

$(BUILD)/uco_snap_test: t/unit/uco_snap_test.c t/unit/tap.h $(SNAP_SRC) \
                        $(SNAP_HDR)
	@mkdir -p $(BUILD)
	$(CC) $(CFLAGS) $(WARN) -std=c99 -D_GNU_SOURCE -Ingx_uco_module \
	    -o $@ t/unit/uco_snap_test.c $(SNAP_SRC) -lcrypto

$(BUILD)/uco_journal_test: t/unit/uco_journal_test.c t/unit/tap.h $(JRNL_SRC) \
                          $(JRNL_HDR) $(SNAP_SRC) $(SNAP_HDR)
	@mkdir -p $(BUILD)
	$(CC) $(CFLAGS) $(WARN) -std=c99 -D_GNU_SOURCE -Ingx_uco_module \
	    -o $@ t/unit/uco_journal_test.c $(JRNL_SRC) $(SNAP_SRC) \
	    -lmsgpackc -lcrypto

unit: $(BUILD)/uco_snap_test $(BUILD)/uco_journal_test

# bench/decide.sh's program: built by make test too, so it keeps compiling
$(BUILD)/bench_decide: bench/decide.c $(SNAP_SRC) $(SNAP_HDR)
	@mkdir -p $(BUILD)
	$(CC) $(CFLAGS) $(WARN) -std=c99 -D_GNU_SOURCE -Ingx_uco_module \
	    -o $@ bench/decide.c $(SNAP_SRC) -lcrypto

# bench/journal.sh's append microbenchmark
$(BUILD)/bench_journal_append: bench/journal_append.c $(JRNL_SRC) \
                               $(JRNL_HDR) $(SNAP_SRC) $(SNAP_HDR)
	@mkdir -p $(BUILD)
	$(CC) $(CFLAGS) $(WARN) -std=c99 -D_GNU_SOURCE -Ingx_uco_module \
	    -o $@ bench/journal_append.c $(JRNL_SRC) $(SNAP_SRC) \
	    -lmsgpackc -lcrypto

# one dependent cache miss, beside the decision's (docs/performance.md)
$(BUILD)/bench_chase: bench/chase.c
	@mkdir -p $(BUILD)
	$(CC) $(CFLAGS) $(WARN) -std=c99 -D_GNU_SOURCE -o $@ bench/chase.c

bench-build: all $(BUILD)/bench_decide $(BUILD)/bench_journal_append \
             $(BUILD)/bench_chase

# the instructions of a decision and of a journal append under callgrind
# against bench/decide.budget and bench/journal.budget
# (docs/performance.md); a throwaway PostgreSQL, a few seconds
test-cost: deps all $(BUILD)/bench_decide $(BUILD)/bench_journal_append
	bench/cost.sh

$(ASAN_BUILD)/nginx/Makefile: config
	$(call configure-nginx,$(ASAN_BUILD)/nginx,-g -O1 -fPIC $(SAN_FLAGS),-fPIC $(SAN_FLAGS))

$(ASAN_BUILD)/ngx_http_uco_module.so: $(ASAN_BUILD)/nginx/Makefile $(MOD_SRC)
	$(MAKE) -s -C $(ASAN_BUILD)/nginx -f objs/Makefile modules
	cp $(ASAN_BUILD)/nginx/objs/ngx_http_uco_module.so $@

$(ASAN_BUILD)/policy-loader: $(LOADER_SRC) $(LOADER_HDR) $(SNAP_SRC) \
                             $(SNAP_HDR) $(JRNL_SRC) $(JRNL_HDR)
	@mkdir -p $(ASAN_BUILD)
	$(CC) -g -O1 $(SAN_FLAGS) $(WARN) -std=c99 -D_GNU_SOURCE \
	    -Ingx_uco_module -I$(PG_INC) -o $@ $(LOADER_SRC) $(SNAP_SRC) \
	    $(JRNL_SRC) $(LOADER_LIBS)

$(ASAN_BUILD)/uco_snap_test: t/unit/uco_snap_test.c $(SNAP_SRC) $(SNAP_HDR)
	@mkdir -p $(ASAN_BUILD)
	$(CC) -g -O1 $(SAN_FLAGS) $(WARN) -std=c99 -D_GNU_SOURCE \
	    -Ingx_uco_module -o $@ t/unit/uco_snap_test.c $(SNAP_SRC) -lcrypto

$(ASAN_BUILD)/uco_journal_test: t/unit/uco_journal_test.c $(JRNL_SRC) \
                               $(JRNL_HDR) $(SNAP_SRC) $(SNAP_HDR)
	@mkdir -p $(ASAN_BUILD)
	$(CC) -g -O1 $(SAN_FLAGS) $(WARN) -std=c99 -D_GNU_SOURCE \
	    -Ingx_uco_module -o $@ t/unit/uco_journal_test.c $(JRNL_SRC) \
	    $(SNAP_SRC) -lmsgpackc -lcrypto

asan: $(ASAN_BUILD)/ngx_http_uco_module.so $(ASAN_BUILD)/policy-loader \
      $(ASAN_BUILD)/uco_snap_test $(ASAN_BUILD)/uco_journal_test

test-asan: deps asan
	rm -rf $(SAN_LOGS) && mkdir -p $(SAN_LOGS) && chmod 1777 $(SAN_LOGS)
	UCO_TEST_MODULE=$(CURDIR)/$(ASAN_BUILD)/ngx_http_uco_module.so \
	UCO_TEST_LOADER=$(CURDIR)/$(ASAN_BUILD)/policy-loader \
	UCO_TEST_UNIT=$(CURDIR)/$(ASAN_BUILD)/uco_snap_test \
	UCO_TEST_JOURNAL_UNIT=$(CURDIR)/$(ASAN_BUILD)/uco_journal_test \
	UCO_TEST_NGINX_ENV="LD_PRELOAD=$$($(CC) -print-file-name=libasan.so) \
	    ASAN_OPTIONS=detect_leaks=0:log_path=$(SAN_LOGS)/nginx \
	    UBSAN_OPTIONS=print_stacktrace=1:log_path=$(SAN_LOGS)/nginx-ub" \
	ASAN_OPTIONS=detect_leaks=1:log_path=$(SAN_LOGS)/loader \
	UBSAN_OPTIONS=print_stacktrace=1:log_path=$(SAN_LOGS)/loader-ub \
	UCO_TEST_TMP=$(UCO_TEST_TMP)-asan \
	    prove $(SAN_TESTS)
	@if [ -n "$$(ls -A $(SAN_LOGS))" ]; then \
	    echo "sanitizer reports:"; cat $(SAN_LOGS)/*; exit 1; \
	fi; echo "sanitizers: no reports"

# libFuzzer targets (clang); each runs FUZZ_SECONDS on a copy of its
# seed corpus, so the repository's seeds stay small and reviewed.
# FUZZ_SRC: the plain-C code the targets drive, linked into each
FUZZ_SRC = $(SNAP_SRC) $(CARD_SRC) ngx_uco_module/uco_tz.c \
           ngx_uco_module/uco_body.c policy-loader/pl_pg_text.c \
           $(JRNL_SRC)
$(BUILD)/fuzz_%: fuzz/fuzz_%.c fuzz/fuzz_body.h $(FUZZ_SRC) \
                 $(wildcard ngx_uco_module/*.h)
	@mkdir -p $(BUILD)
	clang $(FUZZ_CFLAGS) -o $@ $< $(FUZZ_SRC) -lcrypto -ljansson -lmsgpackc

fuzz-build: $(addprefix $(BUILD)/fuzz_,$(FUZZ_TARGETS))

# the loader under valgrind memcheck through the whole suite, then the
# module in nginx (one process, master_process off) under memcheck for
# the files that exercise it most; valgrind writes a log file per
# process, kept only when it has something to say
VG_LOGS = $(UCO_TEST_TMP)-valgrind-logs
VG_NGINX_TESTS = t/010-config.t t/020-decision.t t/030-auth.t \
                 t/035-requests.t t/040-swap.t t/050-bad-snapshot.t \
                 t/051-fallback.t t/052-delta-base.t t/091-delta.t \
                 t/070-hostile.t t/080-batch.t t/080-journal-ring.t

test-valgrind: deps all unit
	rm -rf $(VG_LOGS) && mkdir -p $(VG_LOGS)
	UCO_TEST_LOADER=$(CURDIR)/tools/valgrind-loader \
	UCO_VALGRIND_LOGS=$(VG_LOGS) \
	UCO_TEST_TMP=$(UCO_TEST_TMP)-valgrind prove -r t/
	UCO_TEST_NGINX_VALGRIND=1 UCO_VALGRIND_LOGS=$(VG_LOGS) \
	UCO_TEST_TMP=$(UCO_TEST_TMP)-valgrind prove $(VG_NGINX_TESTS)
	@find $(VG_LOGS) -type f -empty -delete; \
	if [ -n "$$(ls -A $(VG_LOGS))" ]; then \
	    echo "valgrind reports:"; cat $(VG_LOGS)/*; exit 1; \
	fi; echo "valgrind: no errors, no leaks"

fuzz: deps fuzz-build
	@for t in $(FUZZ_TARGETS); do \
	    rm -rf $(BUILD)/corpus-$$t && mkdir -p $(BUILD)/corpus-$$t && \
	    cp fuzz/corpus/$$t/* $(BUILD)/corpus-$$t/ && \
	    echo "fuzz_$$t: $(FUZZ_SECONDS) s" && \
	    $(BUILD)/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) \
	        -artifact_prefix=$(BUILD)/crash-$$t- -print_final_stats=1 \
	        $(BUILD)/corpus-$$t 2>&1 | \
	        grep -E 'stat::number_of_executed_units|ERROR|SUMMARY|Done' ; \
	    test $${PIPESTATUS[0]} = 0 || exit 1; \
	done

style:
	@sh tools/check-style

# Debian packages (debian/, dh --with nginx) from a copy of the tracked
# files in $(DEB_BUILD), so that the checkout stays clean and nothing is
# written beside it; the .debs land in $(DEB_BUILD).
DEB_BUILD = $(BUILD)/deb

deb: deps
	rm -rf $(DEB_BUILD) && mkdir -p $(DEB_BUILD)/uco
	git ls-files -z | tar --null -T - -cf - | tar -xf - -C $(DEB_BUILD)/uco
	cd $(DEB_BUILD)/uco && dpkg-buildpackage -b -us -uc -j2 \
	    > ../build.log 2>&1 || { tail -40 ../build.log; exit 1; }
	@ls $(DEB_BUILD)/*.deb

# installs the packages on this machine (root; CI's machine is
# throwaway), checks them, and purges them again
test-deb: deb
	UCO_TEST_DEBS=$(CURDIR)/$(DEB_BUILD) prove t/095-packages.t

test: deps all unit bench-build style
	prove -r t/

run: deps all
	@bash tools/run-demo

clean:
	rm -rf $(BUILD) t/tmp

# deployguard: see README.md. Needs root for the tests that attach BPF programs.
CC	?= cc
CFLAGS	?= -O2 -g
CFLAGS	+= -std=c11 -Wall -Wextra -Werror -Wno-format-truncation # paths cut at PATH_MAX fail to open
LIBS	:= -lbpf -ldl -lsqlite3 # libbcc is opened at run time by a child (progs_build), libpq by history_pg.c
PREFIX	?= /usr/local
SAN	:= -fsanitize=address,undefined -fno-omit-frame-pointer

# deployguard.c: main, set-up, the loop, cleanup; options (the command line), run (the run's
# cgroup and policy), check (--check). The data path of a query, in order: progs (the BPF
# programs, bpf_prog.h + bpf_*.bpf.c) -> proxy (dns, policy and ruleset) -> events and audit
# (the log); around it: cgroup, command (and filter, fdpass, nss), kheaders, probe, log.
OBJS	:= deployguard.o options.o run.o check.o progs.o members.o proxy.o proxy_judge.o \
	   proxy_watch.o proxy_tcp.o dns.o policy.o ruleset.o policymaps.o events.o audit.o \
	   logline.o cgroup.o cglimits.o watchdog.o command.o filter.o bpfcall.o fdpass.o kheaders.o \
	   probe.o log.o nss.o proc.o depends.o report.o allowlist.o sha256.o json.o history.o \
	   history_sqlite.o history_pg.o rehearse.o rehearse_out.o rehearse_judge.o cache.o adopt.o \
	   container.o dockerapi.o dockerreq.o build/bpf_text.o build/doh_list.o
# The Debian package (make deb, below); defined here, before any rule names it.
VERSION	:= $(shell sed -n 's/^\#define DG_VERSION *"\(.*\)"/\1/p' options.h)
ARCH	:= $(shell dpkg --print-architecture 2>/dev/null)
DEB	:= build/deployguard_$(VERSION)-1_$(ARCH).deb
POLICY_SRC := policy.c ruleset.c
UNIT	:= tests/test_policy tests/test_dns tests/test_proxy tests/test_json tests/test_allowlist tests/test_rehearse \
	   tests/test_history tests/test_audit
TOOLS	:= tests/tools/sysfw tests/tools/loadtable tests/tools/sidedoor
FUZZ	:= tests/fuzz/fuzz_query tests/fuzz/fuzz_answer tests/fuzz/fuzz_policy tests/fuzz/fuzz_json \
	   tests/fuzz/fuzz_cache tests/fuzz/fuzz_docker
FUZZ_CFLAGS := -g -O1 -Wall -Wextra -Werror -fsanitize=fuzzer,address,undefined \
	       -fno-sanitize-recover=all
FUZZ_SECONDS ?= 600

all: deployguard

deployguard: $(OBJS)
	$(CC) $(CFLAGS) -o $@ $(OBJS) $(LIBS)

# Every object against every header: a dozen small files, and never a stale build.
$(filter %.o,$(OBJS)): $(wildcard *.h)
history_pg.o: CFLAGS += $(shell pkg-config --cflags libpq 2>/dev/null || echo -I/usr/include/postgresql)

# The BPF text libbcc compiles at start: bpf_prog.h (the contract) and the programs, in this
# order, as one C string, each line a literal; \? so that no ?? becomes a trigraph.
BPF_SRC	:= bpf_prog.bpf.c bpf_guard.bpf.c bpf_egress.bpf.c
build/bpf_text.c: bpf_prog.h $(BPF_SRC)
	@mkdir -p build
	{ echo '/* made by make from bpf_prog.h and $(BPF_SRC): edit those */'; \
	  echo 'const char dg_bpf_text[] ='; \
	  grep -hv '^#include "bpf_prog.h"$$' bpf_prog.h $(BPF_SRC) | \
		sed 's/\\/\\\\/g; s/"/\\"/g; s/?/\\?/g; s/^/"/; s/$$/\\n"/'; \
	  echo ';'; } >$@.tmp && mv $@.tmp $@
build/doh_list.c: data/doh-resolvers.txt
	@mkdir -p build
	{ echo '/* made by make from data/doh-resolvers.txt: edit that */'; \
	  echo 'const char dg_doh_list[] ='; \
	  sed 's/\\/\\\\/g; s/"/\\"/g; s/?/\\?/g; s/^/"/; s/$$/\\n"/' $<; \
	  echo ';'; } >$@.tmp && mv $@.tmp $@
build/doh_list.o: build/doh_list.c
	$(CC) $(CFLAGS) -c -o $@ $<
build/bpf_text.o: build/bpf_text.c
	$(CC) $(CFLAGS) -c -o $@ $<

# Unit tests run with AddressSanitizer and UBSan; they need no root.
tests/test_policy: tests/test_policy.c $(POLICY_SRC) depends.c policy.h ruleset.h depends.h hash.h
	$(CC) $(CFLAGS) $(SAN) -o $@ tests/test_policy.c $(POLICY_SRC) depends.c -lcmocka
tests/test_dns: tests/test_dns.c dns.c dns.h
	$(CC) $(CFLAGS) $(SAN) -o $@ tests/test_dns.c dns.c -lcmocka

tests/test_json: tests/test_json.c json.c sha256.c json.h sha256.h
	$(CC) $(CFLAGS) $(SAN) -o $@ tests/test_json.c json.c sha256.c -lcmocka

PROXY_SRC := proxy.c proxy_judge.c proxy_watch.c proxy_tcp.c policymaps.c dns.c $(POLICY_SRC) depends.c audit.c logline.c proc.c log.c \
	     container.c json.c
tests/test_proxy: tests/test_proxy.c $(PROXY_SRC) $(wildcard *.h)
	$(CC) $(CFLAGS) $(SAN) -o $@ tests/test_proxy.c $(PROXY_SRC) -lcmocka -lbpf

# Unit tests once more without sanitizers, for valgrind.
tests/%.vg: tests/%.c
	$(CC) $(CFLAGS) -o $@ $(filter %.c,$^) -lcmocka -lbpf
tests/test_policy.vg: tests/test_policy.c $(POLICY_SRC) depends.c
tests/test_dns.vg: tests/test_dns.c dns.c
tests/test_allowlist: tests/test_allowlist.c allowlist.c $(POLICY_SRC) allowlist.h audit.h
	$(CC) $(CFLAGS) $(SAN) -o $@ tests/test_allowlist.c allowlist.c $(POLICY_SRC) -lcmocka
tests/test_allowlist.vg: tests/test_allowlist.c allowlist.c $(POLICY_SRC)
	$(CC) $(CFLAGS) -o $@ $^ -lcmocka
tests/test_rehearse: tests/test_rehearse.c rehearse_judge.c json.c rehearse_int.h json.h
	$(CC) $(CFLAGS) $(SAN) -o $@ tests/test_rehearse.c rehearse_judge.c json.c -lcmocka
tests/test_rehearse.vg: tests/test_rehearse.c rehearse_judge.c json.c
	$(CC) $(CFLAGS) -o $@ $^ -lcmocka
tests/test_history: tests/test_history.c history_sqlite.c log.c history_int.h
	$(CC) $(CFLAGS) $(SAN) -o $@ tests/test_history.c history_sqlite.c log.c -lcmocka -lsqlite3
tests/test_history.vg: tests/test_history.c history_sqlite.c log.c
	$(CC) $(CFLAGS) -o $@ $^ -lcmocka -lsqlite3
AUDIT_SRC := audit.c logline.c proc.c log.c container.c json.c
tests/test_audit: tests/test_audit.c $(AUDIT_SRC) audit.h
	$(CC) $(CFLAGS) $(SAN) -o $@ tests/test_audit.c $(AUDIT_SRC) -lcmocka
tests/test_audit.vg: tests/test_audit.c $(AUDIT_SRC)
	$(CC) $(CFLAGS) -o $@ $^ -lcmocka
tests/test_json.vg: tests/test_json.c json.c sha256.c
tests/test_proxy.vg: tests/test_proxy.c $(PROXY_SRC)

# libFuzzer targets (clang), with ASan and UBSan; each has a seed corpus in tests/fuzz/corpus.
tests/fuzz/fuzz_query: tests/fuzz/fuzz_query.c dns.c dns.h
	clang $(FUZZ_CFLAGS) -o $@ tests/fuzz/fuzz_query.c dns.c
tests/fuzz/fuzz_answer: tests/fuzz/fuzz_answer.c dns.c dns.h
	clang $(FUZZ_CFLAGS) -o $@ tests/fuzz/fuzz_answer.c dns.c
tests/fuzz/fuzz_policy: tests/fuzz/fuzz_policy.c $(POLICY_SRC) depends.c policy.h ruleset.h depends.h hash.h
	clang $(FUZZ_CFLAGS) -o $@ tests/fuzz/fuzz_policy.c $(POLICY_SRC) depends.c
tests/fuzz/fuzz_json: tests/fuzz/fuzz_json.c json.c json.h
	clang $(FUZZ_CFLAGS) -o $@ tests/fuzz/fuzz_json.c json.c
tests/fuzz/fuzz_cache: tests/fuzz/fuzz_cache.c cache.c sha256.c cache.h sha256.h
	clang $(FUZZ_CFLAGS) -o $@ tests/fuzz/fuzz_cache.c cache.c sha256.c -lbpf
DOCKER_SRC := audit.c logline.c container.c json.c proc.c log.c
tests/fuzz/fuzz_docker: tests/fuzz/fuzz_docker.c dockerapi.c dockerreq.c $(DOCKER_SRC) $(wildcard *.h)
	clang $(FUZZ_CFLAGS) -o $@ tests/fuzz/fuzz_docker.c $(DOCKER_SRC)

# Each target for FUZZ_SECONDS (make fuzz FUZZ_SECONDS=3600); new inputs go to a scratch
# directory, the seeds (and any crash turned regression seed) are replayed first. A crash leaves
# its input in tests/fuzz/crash-*: add it to the corpus once fixed.
fuzz: $(FUZZ)
	@for f in $(FUZZ); do \
		c=tests/fuzz/corpus/$${f##*_}; new=$$(mktemp -d); \
		./$$f -max_total_time=$(FUZZ_SECONDS) -timeout=5 -print_final_stats=1 \
			-artifact_prefix=tests/fuzz/ $$new $$c >$$new.log 2>&1; st=$$?; \
		n=$$(sed -n 's/^stat::number_of_executed_units: *//p' $$new.log); \
		echo "$$f: $(FUZZ_SECONDS) s, status $$st, $${n:-0} inputs," \
			"$$(( $${n:-0} / $(FUZZ_SECONDS) )) a second," \
			$$(grep -E '^stat::peak_rss_mb' $$new.log); \
		[ $$st -eq 0 ] || tail -n 40 $$new.log; rm -rf $$new $$new.log; [ $$st -eq 0 ] || exit 1; \
	done

# Benchmarks (not part of check): bench/results.md and bench/results.json.
bench/policy_load: bench/policy_load.c $(POLICY_SRC) policy.h hash.h
	$(CC) $(CFLAGS) -o $@ bench/policy_load.c $(POLICY_SRC)

bench/hooks: bench/hooks.c
	$(CC) $(CFLAGS) -o $@ $< -lbpf
bench/empty.bpf.o: bench/empty.bpf.c
	clang -O2 -g -target bpf -I/usr/include/$$($(CC) -dumpmachine) -Wall -Werror -c $< -o $@
bench/relay: bench/relay.c
	$(CC) $(CFLAGS) -o $@ $<
bench/proxy_loop: bench/proxy_loop.c $(PROXY_SRC) $(wildcard *.h)
	$(CC) $(CFLAGS) -o $@ bench/proxy_loop.c $(PROXY_SRC) -lbpf
bench/floor: bench/floor.c bpf_prog.h build/bpf_text.c
	$(CC) $(CFLAGS) -o $@ $< build/bpf_text.c -lbcc -lbpf
bench/floor_cached: bench/floor_cached.c cache.c sha256.c cache.h bpf_prog.h
	$(CC) $(CFLAGS) -o $@ bench/floor_cached.c cache.c sha256.c -lbpf

BENCH	:= bench/policy_load bench/hooks bench/empty.bpf.o bench/relay bench/proxy_loop bench/floor \
	   bench/floor_cached
bench: deployguard $(BENCH)
	bench/run.sh

# Load test (root, the namespace world): 200 processes, 10,000 queries, 1,000 short-lived
# processes, three rounds; make check runs a smaller one.
stress: deployguard
	tests/stress.sh 200 10000 1000 3

# Test helpers that need root run from the integration tests.
tests/tools/sysfw: tests/tools/sysfw.c
	$(CC) $(CFLAGS) -o $@ $< -lbpf
tests/tools/sidedoor: tests/tools/sidedoor.c
	$(CC) $(CFLAGS) -pthread -o $@ $<
tests/tools/loadtable: tests/tools/loadtable.c bpf_prog.h build/bpf_text.c
	$(CC) $(CFLAGS) -o $@ $< build/bpf_text.c -lbcc -lbpf

# Debian packages, apt-get only what is missing, without recommends. deps: what building and the
# demo need; test-deps (make check installs them first): the test rig. Names are the same on
# Debian 12 and 13; the unversioned ones follow each release's default (clang 14 or 19).
RELEASES := bookworm trixie
DEPS	:= build-essential pkg-config libbpfcc-dev libbpf-dev linux-headers-$(ARCH) libsqlite3-dev \
	   libpq-dev publicsuffix graphviz curl
TEST_DEPS := libcmocka-dev bats dnsmasq-base dnsutils iproute2 curl python3 groff-base bpftool \
	   clang-format-19 procps util-linux kmod clang libclang-rt-dev sqlite3 valgrind dnsperf \
	   linux-perf mmdebstrap arch-test qemu-system-x86 qemu-system-arm qemu-user-static binfmt-support \
	   cpio \
	   lintian man-db systemd time \
	   podman runc crun conmon netavark iptables busybox-static docker.io docker-registry \
	   docker-compose nodejs fio postgresql
# Where a release splits a package: Debian 13's docker.io leaves its client to docker-cli, and
# its netavark calls the nft program.
CODENAME := $(shell . /etc/os-release 2>/dev/null; echo $$VERSION_CODENAME)
TEST_DEPS_trixie := docker-cli nftables
# The packages' services (dockerd, the registry) are not started: the tests start their own.
INSTALL = @. /etc/os-release; case " $(RELEASES) " in *" $$VERSION_CODENAME "*) ;; *) \
	echo "deployguard: $${PRETTY_NAME:-this system} is not supported: Debian 12 (bookworm) or 13 (trixie)" >&2; \
	exit 1;; esac; \
	missing=$$(for p in $(1); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		rc=/usr/sbin/policy-rc.d; made=; \
		[ -e $$rc ] || { printf '\#!/bin/sh\nexit 101\n' >$$rc && chmod 0755 $$rc && made=1; }; \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
			--no-install-recommends $$missing; \
		st=$$?; [ -z "$$made" ] || rm -f $$rc; exit $$st; \
	fi
deps:
	$(call INSTALL,$(DEPS))
test-deps: deps
	$(call INSTALL,$(TEST_DEPS) $(TEST_DEPS_$(CODENAME)))

# The toy deploy, with its report and its graph in build/ (examples/demo.svg is one of these).
demo: deployguard
	@mkdir -p build
	./deployguard -b examples/blocklist.txt --depends examples/depends.txt \
		--report build/demo.json --graph build/demo.dot -- examples/deploy.sh
	dot -Tsvg build/demo.dot -o build/demo.svg

unit: $(UNIT) $(UNIT:=.vg) deployguard
	@for t in $(UNIT); do ./$$t || exit 1; done
	bats tests/options.bats
	@for t in $(UNIT); do \
		valgrind -q --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=all \
			./$$t.vg >/dev/null || { echo "valgrind: $$t"; exit 1; }; \
	done; echo "valgrind: unit tests clean"

lint: deployguard
	python3 tests/doc_options.py ./deployguard README.md man/deployguard.8 options.c
	python3 tests/lint_bats.py tests/*.bats
	python3 tests/lint_layout.py
	out=$$(groff -mandoc -ww -z man/deployguard.8 2>&1); [ -z "$$out" ] || { echo "$$out"; exit 1; }
	clang-format-19 --dry-run -Werror *.c *.h tests/*.c tests/tools/*.c tests/fuzz/*.c bench/*.c

SUITES = tests/integration.bats tests/enforcement.bats tests/operations.bats tests/escape.bats \
	 tests/reports.bats tests/rehearse.bats tests/policy.bats tests/containers.bats \
	 tests/sidedoors.bats tests/history.bats

integration: deployguard $(TOOLS)
	bats $(SUITES)

check: test-deps deployguard unit lint integration
	tests/package.sh
	tests/stress.sh 50 2000 200 2
	$(MAKE) fuzz FUZZ_SECONDS=30

# The unit tests and integration suites on Debian 12's own 6.1 kernel, pure cgroup2, in qemu
# (root; the root filesystem is built once into build/vm): see tests/vm.sh.
vm-check: deployguard $(TOOLS) $(UNIT) $(DEB)
	VM_UNITS="$(UNIT)" VM_TOOLS="$(TOOLS)" VM_SUITES="$(SUITES)" VM_DEB="$(DEB)" tests/vm.sh

# The kernel matrix: the newest kernel of Debian 11, 13 and unstable (resolved at each run), each
# with its own headers, booted over the Debian 12 root; the smoke set below on each (make
# vm-check runs every suite on Debian 12's 6.1). The unit tests and --check's table run too.
MATRIX	:= bullseye trixie sid
# The smoke set: a blocked name and a blocked address, each attributed; the escape guard; the
# compile cache; the fallbacks --check names; cleanup after deployguard is killed (and every
# test's teardown: no cgroup, no program left).
SMOKE	:= ^(direct dependency: downloading|connections to blocked addresses fail at once
SMOKE	:= $(SMOKE)|leaving the cgroup as root|compile cache|fallbacks for older kernels
SMOKE	:= $(SMOKE)|SIGKILL to deployguard)
vm-matrix: deployguard $(TOOLS) $(UNIT) $(DEB)
	@for k in $(MATRIX); do \
		VM_KERNEL=$$k VM_UNITS="$(UNIT)" VM_TOOLS="$(TOOLS)" VM_DEB="$(DEB)" \
		VM_SUITES="tests/integration.bats tests/operations.bats tests/escape.bats tests/sidedoors.bats" \
		VM_FILTER='$(SMOKE)' VM_TIMEOUT=900 tests/vm.sh || exit 1; \
	done

# arm64: Debian 12's arm64 kernel in qemu-system-aarch64 (TCG), deployguard built in the arm64
# root (qemu-user), the unit tests and the smoke set, and the seccomp filter's own tests
# (disarming and the side doors use arm64's system call numbers).
# CI runs the cheapest useful depth (.ci/vm-check: ARM64_FILTER='$(ARM64_FILTER_CI)'): a block
# named and attributed, and the filter's arm64 numbers, both ways (disarming, socket families).
ARM64_FILTER	?= $(SMOKE)|disarming as root|program loads that move packets
ARM64_FILTER_CI	:= ^(direct dependency: downloading|disarming as root|every socket family)
vm-check-arm64:
	VM_ARCH=arm64 VM_UNITS="$(UNIT)" VM_TOOLS="$(TOOLS)" \
	VM_SUITES="tests/integration.bats tests/operations.bats tests/escape.bats tests/sidedoors.bats" \
	VM_FILTER='$(ARM64_FILTER)' VM_TIMEOUT=2400 tests/vm.sh

# README's two commands on a fresh Debian 13 root (mmdebstrap), on this machine's kernel.
trixie-check:
	tests/trixie.sh

# make install DESTDIR=... PREFIX=... (default /usr/local); UNITDIR is where systemd looks,
# SYSCONFDIR where deployguard@.service reads a service's options and the default blocklist.
UNITDIR	?= $(PREFIX)/lib/systemd/system
SYSCONFDIR ?= $(PREFIX)/etc
DOCDIR	= $(PREFIX)/share/doc/deployguard
install: deployguard
	install -D -m 0755 deployguard $(DESTDIR)$(PREFIX)/sbin/deployguard
	install -D -m 0644 man/deployguard.8 $(DESTDIR)$(PREFIX)/share/man/man8/deployguard.8
	install -d $(DESTDIR)$(DOCDIR)/examples
	install -m 0644 examples/blocklist.txt examples/depends.txt examples/update-check.curlrc \
		$(DESTDIR)$(DOCDIR)/examples
	install -m 0755 examples/deploy.sh $(DESTDIR)$(DOCDIR)/examples
	install -d $(DESTDIR)$(UNITDIR)
	sed 's|@SBINDIR@|$(PREFIX)/sbin|; s|@SYSCONFDIR@|$(SYSCONFDIR)|g' \
		dist/deployguard@.service.in >$(DESTDIR)$(UNITDIR)/deployguard@.service
	install -D -m 0644 examples/blocklist.txt $(DESTDIR)$(SYSCONFDIR)/deployguard/blocklist.txt

# make deb: build/deployguard_VERSION-1_ARCH.deb, from make install into build/deb, with the
# runtime libraries (from dpkg-shlibdeps, and libbcc, which deployguard opens at run time) as
# dependencies; lintian checks it (see dist/lintian-overrides for the tags left, and why).
deb: $(DEB)
$(DEB): deployguard man/deployguard.8 dist/* examples/*
	rm -rf build/deb build/deb-src && mkdir -p build/deb-src/debian
	$(MAKE) -s install DESTDIR=$(CURDIR)/build/deb PREFIX=/usr UNITDIR=/usr/lib/systemd/system \
		SYSCONFDIR=/etc
	strip --strip-unneeded --remove-section=.comment --remove-section=.note build/deb/usr/sbin/deployguard
	gzip -9n build/deb/usr/share/man/man8/deployguard.8
	install -m 0644 dist/copyright build/deb/usr/share/doc/deployguard/copyright
	gzip -9n <dist/changelog >build/deb/usr/share/doc/deployguard/changelog.Debian.gz
	install -D -m 0644 dist/lintian-overrides build/deb/usr/share/lintian/overrides/deployguard
	mkdir -p build/deb/DEBIAN && echo /etc/deployguard/blocklist.txt >build/deb/DEBIAN/conffiles
	install -m 0755 dist/postrm build/deb/DEBIAN/postrm
	printf 'Source: deployguard\n\nPackage: deployguard\nArchitecture: any\n' \
		>build/deb-src/debian/control
	deps=$$(cd build/deb-src && dpkg-shlibdeps -O ../deb/usr/sbin/deployguard 2>/dev/null | \
		sed -n 's/^shlibs:Depends=//p') && [ -n "$$deps" ] && \
	sed -e 's/@VERSION@/$(VERSION)-1/' -e 's/@ARCH@/$(ARCH)/' -e "s/@DEPENDS@/$$deps, libbpfcc, libpq5/" \
		-e "s/@SIZE@/$$(du -sk --exclude=DEBIAN build/deb | cut -f1)/" dist/control.in \
		>build/deb/DEBIAN/control
	(cd build/deb && find . -type f ! -path './DEBIAN/*' -printf '%P\0' | sort -z | \
		xargs -0 md5sum) >build/deb/DEBIAN/md5sums
	dpkg-deb --root-owner-group -Zxz --build build/deb $@

clean:
	rm -f deployguard $(OBJS) build/bpf_text.c build/doh_list.c $(UNIT) $(UNIT:=.vg) $(TOOLS) $(FUZZ) $(BENCH)

.PHONY: all deps test-deps demo vm-matrix vm-check-arm64 trixie-check unit lint integration check vm-check fuzz bench stress install deb clean

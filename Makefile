# deployguard: see README.md. Needs root for the tests that attach BPF programs.
CC	?= cc
CFLAGS	?= -O2 -g
CFLAGS	+= -std=c11 -Wall -Wextra -Werror -Wno-format-truncation # paths cut at PATH_MAX fail to open
BCC_LIBS := $(shell pkg-config --libs libbcc 2>/dev/null || echo -lbcc) -lbpf
PREFIX	?= /usr/local
SAN	:= -fsanitize=address,undefined -fno-omit-frame-pointer

OBJS	:= deployguard.o proxy.o dns.o policy.o audit.o cgroup.o probe.o
UNIT	:= tests/test_policy tests/test_dns
TOOLS	:= tests/tools/sysfw

all: deployguard

deployguard: $(OBJS)
	$(CC) $(CFLAGS) -o $@ $(OBJS) $(BCC_LIBS)

deployguard.o: deployguard.c bpf_prog.h audit.h cgroup.h policy.h probe.h proxy.h
probe.o: probe.c probe.h audit.h
cgroup.o: cgroup.c cgroup.h audit.h
proxy.o: proxy.c proxy.h dns.h audit.h policy.h
dns.o: dns.c dns.h
policy.o: policy.c policy.h
audit.o: audit.c audit.h

# Unit tests run with AddressSanitizer and UBSan; they need no root.
tests/test_policy: tests/test_policy.c policy.c policy.h
	$(CC) $(CFLAGS) $(SAN) -o $@ tests/test_policy.c policy.c -lcmocka
tests/test_dns: tests/test_dns.c dns.c dns.h
	$(CC) $(CFLAGS) $(SAN) -o $@ tests/test_dns.c dns.c -lcmocka

# Test helpers that need root run from the integration tests.
tests/tools/sysfw: tests/tools/sysfw.c
	$(CC) $(CFLAGS) -o $@ $< -lbpf

# Debian packages for building and testing; apt-get only what is missing.
DEPS := build-essential pkg-config libbpfcc-dev libbpf-dev linux-headers-amd64 libcmocka-dev \
	bats dnsmasq-base dnsutils iproute2 curl python3 groff-base bpftool clang-format procps \
	util-linux
deps:
	@missing=$$(for p in $(DEPS); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing; \
	fi

demo: deployguard
	./deployguard -b examples/blocklist.txt -- examples/deploy.sh

unit: $(UNIT)
	@for t in $(UNIT); do ./$$t || exit 1; done

lint:
	out=$$(groff -mandoc -ww -z man/deployguard.8 2>&1); [ -z "$$out" ] || { echo "$$out"; exit 1; }
	clang-format --dry-run -Werror *.c *.h tests/*.c tests/tools/*.c

integration: deployguard $(TOOLS)
	bats tests/integration.bats tests/enforcement.bats tests/operations.bats

check: deployguard unit lint integration

install: deployguard
	install -D -m 0755 deployguard $(DESTDIR)$(PREFIX)/sbin/deployguard
	install -D -m 0644 man/deployguard.8 $(DESTDIR)$(PREFIX)/share/man/man8/deployguard.8

clean:
	rm -f deployguard $(OBJS) $(UNIT) $(TOOLS)

.PHONY: all deps demo unit lint integration check install clean

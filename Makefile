# Front door to the meson build.  `make run` and `make check` install what
# is missing (Debian packages), build, and then boot the default VM or run
# every test.
BUILD      ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 10
PYTEST     ?= /usr/bin/python3 -m pytest
MESON_OPTS ?= --buildtype=debugoptimized -Dwerror=true

.PHONY: all deps build build-asan build-fuzz run demo check unit integration fuzz bench clean format \
	man install uninstall

all: build

deps:
	@./scripts/deps.sh

$(BUILD)/build.ninja:
	meson setup $(BUILD) $(MESON_OPTS)

build: deps $(BUILD)/build.ninja
	ninja -C $(BUILD)

$(ASAN_BUILD)/build.ninja:
	meson setup $(ASAN_BUILD) $(MESON_OPTS) -Db_sanitize=address,undefined \
		-Db_lundef=false -Dguests=false -Dbench=false

build-asan: deps $(ASAN_BUILD)/build.ninja
	ninja -C $(ASAN_BUILD)

$(FUZZ_BUILD)/build.ninja:
	CC=clang meson setup $(FUZZ_BUILD) $(MESON_OPTS) -Dfuzz=true -Dguests=false \
		-Dtests=false -Dbench=false

build-fuzz: deps $(FUZZ_BUILD)/build.ninja
	ninja -C $(FUZZ_BUILD)

run: build
	./scripts/default-vm.sh $(BUILD)

demo: build
	./scripts/demo-vm.sh $(BUILD)

unit: build-asan
	rm -f $(ASAN_BUILD)/meson-logs/testlog.json
	-UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		meson test -C $(ASAN_BUILD) --suite unit --print-errorlogs

integration: build build-fuzz
	rm -f $(BUILD)/pytest.xml $(BUILD)/pytest-l1.xml
	-VESSEL_BUILD=$(abspath $(BUILD)) VESSEL_FUZZ_BUILD=$(abspath $(FUZZ_BUILD)) \
		FUZZ_SECONDS=$(FUZZ_SECONDS) \
		$(PYTEST) -p no:cacheprovider -rs -v --junitxml=$(BUILD)/pytest.xml tests/integration
	-VESSEL_FUZZ_BUILD=$(abspath $(FUZZ_BUILD)) ./scripts/kvm-in-l1.py $(BUILD) \
		$(BUILD)/pytest.xml $(BUILD)/pytest-l1.xml

# Unit tests (ASan+UBSan), guest tests on /dev/kvm, integration tests and
# short fuzz runs; ends with the "N passed, N failed, N skipped" line.
check: unit integration
	@./scripts/test-summary.py $(ASAN_BUILD)/meson-logs/testlog.json $(BUILD)/pytest.xml \
		$(BUILD)/pytest-l1.xml

fuzz: build-fuzz
	VESSEL_FUZZ_BUILD=$(abspath $(FUZZ_BUILD)) FUZZ_SECONDS=$${FUZZ_SECONDS:-600} \
		$(PYTEST) -p no:cacheprovider -v tests/integration/test_fuzz.py

# Manual pages, written from vessel's own --help texts (scripts/mkman.py).
man: build
	python3 scripts/mkman.py $(BUILD)/vessel $(BUILD)/man

# make install [PREFIX=/usr/local] [DESTDIR=...]: the binary, a manual page
# per command (man vessel, man vessel-start), bash completion and the
# systemd unit that starts autostart VMs at boot.
PREFIX ?= /usr/local
BINDIR  = $(DESTDIR)$(PREFIX)/bin
MANDIR  = $(DESTDIR)$(PREFIX)/share/man/man1
COMPDIR = $(DESTDIR)$(PREFIX)/share/bash-completion/completions
UNITDIR = $(DESTDIR)$(PREFIX)/lib/systemd/system

install: man
	install -d $(BINDIR) $(MANDIR) $(COMPDIR)
	install -m 0755 $(BUILD)/vessel $(BINDIR)/vessel
	install -m 0644 $(BUILD)/man/*.1 $(MANDIR)/
	install -m 0644 scripts/vessel-completion.bash $(COMPDIR)/vessel
	install -d $(UNITDIR)
	sed 's|@BINDIR@|$(PREFIX)/bin|g' contrib/systemd/vessel-autostart.service.in \
		> $(UNITDIR)/vessel-autostart.service
	chmod 0644 $(UNITDIR)/vessel-autostart.service
	-[ -n "$(DESTDIR)" ] || mandb -q 2>/dev/null

uninstall:
	rm -f $(BINDIR)/vessel $(MANDIR)/vessel.1 $(MANDIR)/vessel-*.1 $(COMPDIR)/vessel \
		$(UNITDIR)/vessel-autostart.service

bench: build
	./bench/run-all.sh $(BUILD)

format:
	clang-format -i $$(git ls-files 'src/*.[ch]' 'tests/*.[ch]')

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)
